# syntax=docker/dockerfile:1
# ReconService: build with the .NET 10 SDK, run on the ASP.NET Core runtime as a non-root user.
#   docker build -t reconservice .                                # CPU (default)
#   docker build -t reconservice:cuda --build-arg TORCH_BACKEND=cuda .   # CUDA 12.8 libtorch; run with --gpus all
ARG TORCH_BACKEND=cpu

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TORCH_BACKEND
WORKDIR /src
COPY Directory.Build.props Directory.Build.targets Directory.Packages.props ReconService.sln ./
COPY build/ build/
COPY src/Models/Models.csproj src/Models/
COPY src/Engine/Engine.csproj src/Engine/
COPY src/Api/Api.csproj src/Api/
# Restore first so the (large) libtorch packages stay in a cached layer while sources change.
RUN dotnet restore src/Api/Api.csproj -p:TorchBackend=${TORCH_BACKEND}
COPY src/ src/
RUN dotnet publish src/Api/Api.csproj -c Release -o /app --no-restore -p:TorchBackend=${TORCH_BACKEND}

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# curl serves the container health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl libgomp1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# The embedded default model, served when Model__Path is not set (found above the content root, /app).
COPY models/ ./models/
ENV ASPNETCORE_URLS=http://0.0.0.0:8080 \
    ASPNETCORE_ENVIRONMENT=Production \
    DOTNET_gcServer=0
EXPOSE 8080
# The .NET images define the unprivileged user "app" (APP_UID 1654).
USER $APP_UID
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
  CMD curl -sf http://127.0.0.1:8080/health/ready || exit 1
ENTRYPOINT ["dotnet", "ReconService.Api.dll"]
