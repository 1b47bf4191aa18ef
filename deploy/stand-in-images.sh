#!/usr/bin/env bash
# Makes local stand-ins for the Dockerfile's three base images when the real ones cannot be pulled (no container
# registry reachable), so that the Dockerfile itself is built unchanged:
#   mcr.microsoft.com/dotnet/sdk:10.0      Debian 12 + this machine's .NET SDK (/usr/share/dotnet)
#   mcr.microsoft.com/dotnet/aspnet:10.0   Debian 12 + this machine's .NET and ASP.NET Core runtimes, user "app" (1654)
#   node:20-bookworm-slim                  Debian 12 + this machine's Node.js 20 and npm
# The Debian root file system comes from debootstrap (Debian's mirror, as apt uses it); the SDK, runtimes and Node are
# copied from this machine, which is Debian 12 too. Each stand-in carries the label reconservice.stand-in=true and the
# environment the real image sets that the build relies on (APP_UID, ASPNETCORE_HTTP_PORTS, DOTNET_RUNNING_IN_CONTAINER).
# Real images are Ubuntu 24.04 (.NET 10) and Debian 12 (Node); the Dockerfile's steps work on both.
# This machine reaches the package registries through a TLS-intercepting gateway: the certificates it added under
# /usr/local/share/ca-certificates are trusted in the stand-ins too (and Node is pointed at the system bundle), so npm
# and NuGet work inside the build as they do here. Real base images on an ordinary network need none of this.
#
#   deploy/stand-in-images.sh            make the stand-ins that are missing (an image already present is kept)
#   deploy/stand-in-images.sh --force    remake all three
# Needs root, docker, debootstrap (apt-get install debootstrap), dotnet and node on PATH.
set -euo pipefail

work="${RECON_STANDIN_DIR:-/var/tmp/reconservice-stand-ins}"
base=reconservice-stand-in/debian:bookworm
force=false
[[ "${1:-}" == "--force" ]] && force=true
dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
node_bin="$(readlink -f "$(command -v node)")"
npm_root="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"   # .../lib/node_modules/npm

have() { docker image inspect "$1" > /dev/null 2>&1; }
need() { $force || ! have "$1"; }
log() { printf '[stand-ins] %s\n' "$*"; }

mkdir -p "$work"
if need "$base"; then
  if [[ ! -x "$work/rootfs/bin/sh" ]]; then
    command -v debootstrap > /dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
    log "debootstrap bookworm (minbase) into $work/rootfs"
    rm -rf "$work/rootfs"
    debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian > "$work/debootstrap.log" 2>&1 \
      || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  fi
  # apt inside the image reaches the same Debian mirror (and its security updates) as this machine.
  cat > "$work/rootfs/etc/apt/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  mkdir -p "$work/rootfs/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$work/rootfs/usr/local/share/ca-certificates/" 2> /dev/null || true
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/archives/"*.deb
  log "importing $base"
  tar -C "$work/rootfs" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["bash"]' - "$base" > /dev/null
fi

# One build context per image: its Dockerfile plus the files it copies from this machine.
build_stand_in() { # tag, context folder
  log "building $1 (stand-in)"
  docker build --network host -q -t "$1" "$2" > /dev/null
}

sdk=mcr.microsoft.com/dotnet/sdk:10.0
runtime=mcr.microsoft.com/dotnet/aspnet:10.0
node=node:20-bookworm-slim

if need "$sdk"; then
  ctx="$work/sdk"; rm -rf "$ctx"; mkdir -p "$ctx"
  cp -a "$dotnet_root" "$ctx/dotnet"
  cat > "$ctx/Dockerfile" <<EOF
FROM $base
LABEL reconservice.stand-in=true org.opencontainers.image.description="stand-in for $sdk: Debian 12 + the host's .NET SDK"
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl git libicu72 libssl3 tzdata \\
 && rm -rf /var/lib/apt/lists/*
COPY dotnet/ /usr/share/dotnet/
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV APP_UID=1654 ASPNETCORE_HTTP_PORTS=8080 DOTNET_RUNNING_IN_CONTAINER=true DOTNET_USE_POLLING_FILE_WATCHER=true \\
    NUGET_XMLDOC_MODE=skip DOTNET_NOLOGO=true DOTNET_CLI_TELEMETRY_OPTOUT=1
RUN dotnet --info > /dev/null
EOF
  build_stand_in "$sdk" "$ctx"
  rm -rf "$ctx"
fi

if need "$runtime"; then
  ctx="$work/aspnet"; rm -rf "$ctx"; mkdir -p "$ctx/dotnet/shared"
  cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$dotnet_root/LICENSE.txt" "$ctx/dotnet/"
  cp -a "$dotnet_root/shared/Microsoft.NETCore.App" "$dotnet_root/shared/Microsoft.AspNetCore.App" "$ctx/dotnet/shared/"
  cat > "$ctx/Dockerfile" <<EOF
FROM $base
LABEL reconservice.stand-in=true org.opencontainers.image.description="stand-in for $runtime: Debian 12 + the host's .NET and ASP.NET Core runtimes"
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libicu72 libssl3 tzdata \\
 && rm -rf /var/lib/apt/lists/*
COPY dotnet/ /usr/share/dotnet/
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV APP_UID=1654 ASPNETCORE_HTTP_PORTS=8080 DOTNET_RUNNING_IN_CONTAINER=true
RUN groupadd --gid=\$APP_UID app && useradd --no-log-init --uid=\$APP_UID --gid=\$APP_UID --create-home app
RUN dotnet --list-runtimes > /dev/null
EOF
  build_stand_in "$runtime" "$ctx"
  rm -rf "$ctx"
fi

if need "$node"; then
  ctx="$work/node"; rm -rf "$ctx"; mkdir -p "$ctx"
  cp -a "$node_bin" "$ctx/node"
  cp -a "$npm_root" "$ctx/npm"
  cat > "$ctx/Dockerfile" <<EOF
FROM $base
LABEL reconservice.stand-in=true org.opencontainers.image.description="stand-in for $node: Debian 12 + the host's Node.js $(node --version) and npm"
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY node /usr/local/bin/node
COPY npm/ /usr/local/lib/node_modules/npm/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node && node --version && npm --version
ENV NODE_VERSION=$(node --version | tr -d v) NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
EOF
  build_stand_in "$node" "$ctx"
  rm -rf "$ctx"
fi
log "ready: $(for i in "$sdk" "$runtime" "$node"; do printf '%s (%s) ' "$i" "$(docker image inspect -f '{{index .Config.Labels "reconservice.stand-in"}}' "$i" | sed 's/^true$/stand-in/;s/^$/real/')"; done)"
