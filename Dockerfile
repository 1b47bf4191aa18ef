# ReconService image: the neuron viewer compiled with Node, the service published with the .NET 10 SDK, both run on
# the ASP.NET Core runtime as the unprivileged "app" user, with a health check on /health/ready.
#   docker build -t reconservice .                                       # CPU (default)
#   docker build -t reconservice:cuda --build-arg TORCH_BACKEND=cuda .   # CUDA 12.8 libtorch; run with --gpus all
# No "# syntax=" line on purpose: BuildKit would fetch a frontend image for it, and nothing here needs more than the
# built-in one, so the file builds with BuildKit, the classic builder and Podman alike.
# deploy/docker-check.sh builds and checks this image; docs/deploy.md covers running it.
ARG TORCH_BACKEND=cpu

# 1. The viewer: TypeScript and static files into src/Api/wwwroot (what src/Api/Viewer.targets does on a developer machine).
FROM node:20-bookworm-slim AS viewer
WORKDIR /src/viewer
COPY viewer/package.json viewer/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY viewer/ ./
RUN npm run build && test -f /src/src/Api/wwwroot/index.html

# 2. The service.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TORCH_BACKEND
WORKDIR /src
COPY Directory.Build.props Directory.Build.targets Directory.Packages.props ./
COPY build/ build/
COPY src/Models/Models.csproj src/Models/
COPY src/Engine/Engine.csproj src/Engine/
COPY src/Api/Api.csproj src/Api/Viewer.targets src/Api/
# Restore first so the (large) libtorch packages stay in a cached layer while sources change.
RUN dotnet restore src/Api/Api.csproj -p:TorchBackend=${TORCH_BACKEND}
COPY src/ src/
COPY --from=viewer /src/src/Api/wwwroot/ src/Api/wwwroot/
# BuildViewer=false: the page comes from the viewer stage (this stage has no npm).
RUN dotnet publish src/Api/Api.csproj -c Release -o /app --no-restore -p:TorchBackend=${TORCH_BACKEND} -p:BuildViewer=false \
 && test -f /app/wwwroot/index.html

# 3. The runtime image.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# curl serves the health check; libgomp1 is libtorch's OpenMP runtime.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl libgomp1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# The embedded default model, served when Model__Path is not set (found above the content root, /app).
COPY models/ ./models/
# The port is ASP.NET Core's own setting (the .NET images' default, 8080); the health check follows it when changed.
ENV ASPNETCORE_HTTP_PORTS=8080 \
    ASPNETCORE_ENVIRONMENT=Production \
    DOTNET_gcServer=0
EXPOSE 8080
# The .NET images define the unprivileged user "app" (APP_UID 1654); numeric, so Kubernetes' runAsNonRoot can check it.
USER $APP_UID
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
  CMD curl -sf "http://127.0.0.1:${ASPNETCORE_HTTP_PORTS:-8080}/health/ready" > /dev/null || exit 1
# SIGTERM (docker stop, Kubernetes) starts ASP.NET Core's graceful shutdown; see docs/deploy.md, "Drain".
STOPSIGNAL SIGTERM
ENTRYPOINT ["dotnet", "ReconService.Api.dll"]
