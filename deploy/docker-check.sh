#!/usr/bin/env bash
# Builds the image from the Dockerfile, runs it, and checks it as a user would: the container's own health check turns
# healthy, it runs as a non-root user, /health/ready, the viewer at /, /metrics and one request of each kind answer
# (deploy/smoke.py), and `docker stop` (SIGTERM) ends it cleanly. Not part of CI (it needs a Docker engine and
# builds for minutes); run it by hand before changing the Dockerfile, .dockerignore or what the image serves.
#
#   deploy/docker-check.sh                      build reconservice:check and check it
#   deploy/docker-check.sh --no-build           check an image already built
#   RECON_CHECK_PORT=18080 RECON_CHECK_TAG=reconservice:check TORCH_BACKEND=cpu   (the defaults)
#
# Base images: each one present locally is used as it is; a missing one is pulled; when a pull fails (no registry
# reachable, as on the development machines), deploy/stand-in-images.sh makes a local stand-in under the same name.
# Docker engine: the one DOCKER_HOST or /var/run/docker.sock reaches. With none and as root, this script starts
# dockerd itself (Debian's docker.io: apt-get install docker.io debootstrap) with overlay2 (vfs if that fails), no
# bridge and no iptables, and stops it at the end; the build and the container then use the host's network, and the
# service listens on 127.0.0.1:$RECON_CHECK_PORT only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
out="$repo/artifacts/docker-check"
tag="${RECON_CHECK_TAG:-reconservice:check}"
port="${RECON_CHECK_PORT:-18080}"
backend="${TORCH_BACKEND:-cpu}"
name="reconservice-check-$$"
build=true
[[ "${1:-}" == "--no-build" ]] && build=false
mkdir -p "$out"
dockerd_pid=""
failures=0

log() { printf '\n==> %s\n' "$*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
cleanup() {
  docker rm -f "$name" > /dev/null 2>&1 || true
  if [[ -n "$dockerd_pid" ]]; then
    kill "$dockerd_pid" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$dockerd_pid" 2> /dev/null || break; sleep 0.2; done
  fi
}
trap cleanup EXIT
# The docker CLI without buildx prints a deprecation notice for the classic builder on every build: leave it out.
quiet_docker() { docker "$@" 2> >(grep -v -e 'DEPRECATED: The legacy builder' -e 'Install the buildx' -e 'docs.docker.com/go/buildx' -e '^ *$' >&2); }

log "Docker engine"
command -v docker > /dev/null || { echo "no docker CLI: apt-get install docker.io"; exit 1; }
if ! docker info > /dev/null 2>&1; then
  if [[ $EUID -ne 0 ]] || ! command -v dockerd > /dev/null; then
    echo "no Docker engine answers (docker info failed), and this script can only start one as root with dockerd installed"
    docker info 2>&1 | tail -n 3
    exit 1
  fi
  for driver in overlay2 vfs; do
    echo "starting dockerd (storage driver $driver, no bridge, no iptables); log: $out/dockerd.log"
    dockerd --storage-driver="$driver" --iptables=false --ip-masq=false --bridge=none > "$out/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 60); do docker info > /dev/null 2>&1 && break; kill -0 "$dockerd_pid" 2> /dev/null || break; sleep 0.5; done
    docker info > /dev/null 2>&1 && break
    echo "dockerd did not start with $driver:"; tail -n 5 "$out/dockerd.log"
    kill "$dockerd_pid" 2> /dev/null || true; wait "$dockerd_pid" 2> /dev/null || true; dockerd_pid=""
  done
  docker info > /dev/null 2>&1 || { echo "could not start dockerd"; exit 1; }
fi
docker version --format 'client {{.Client.Version}}, engine {{.Server.Version}}'
docker info --format 'storage driver {{.Driver}}, cgroup {{.CgroupVersion}}'

if $build; then
  log "Base images"
  missing=false
  for image in $(sed -n 's/^FROM \([^ ]*\).*/\1/p' Dockerfile | sort -u); do
    if docker image inspect "$image" > /dev/null 2>&1; then
      echo "$image: present ($(docker image inspect -f '{{if index .Config.Labels "reconservice.stand-in"}}local stand-in{{else}}pulled{{end}}' "$image"))"
    elif docker pull -q "$image" > /dev/null 2> "$out/pull.log"; then
      echo "$image: pulled"
    else
      echo "$image: cannot be pulled ($(tail -n 1 "$out/pull.log"))"
      missing=true
    fi
  done
  if $missing; then
    echo "making local stand-ins (deploy/stand-in-images.sh)"
    deploy/stand-in-images.sh
  fi

  log "docker build -t $tag --build-arg TORCH_BACKEND=$backend ."
  started=$(date +%s)
  if ! quiet_docker build --network host --build-arg "TORCH_BACKEND=$backend" -t "$tag" . > "$out/build.log" 2>&1; then
    tail -n 30 "$out/build.log"; echo "FAIL docker build (log: $out/build.log)"; exit 1
  fi
  echo "built in $(( $(date +%s) - started )) s; log: $out/build.log"
fi
docker image inspect -f 'image {{.Id}}, {{.Size}} bytes, user {{.Config.User}}, healthcheck {{.Config.Healthcheck.Test}}' "$tag"

log "Image contents"
# What the build context let in, and what the viewer stage produced.
listing=$(docker run --rm --network none --entrypoint /bin/sh "$tag" -c 'id -u; ls /app/wwwroot /app/wwwroot/js; ls /app/models')
echo "$listing" | head -n 12
[[ "$(echo "$listing" | head -n 1)" != "0" ]] || fail "the image runs as root"
grep -q '^index.html$' <<< "$listing" || fail "no wwwroot/index.html in the image"
grep -q '^main.js$' <<< "$listing" || fail "no wwwroot/js/main.js in the image"

# As deploy/k8s/deployment.yaml runs it: read-only root file system with a writable /tmp, no capabilities, no
# privilege escalation, a memory limit.
log "docker run (host network, 127.0.0.1:$port; read-only root, tmpfs /tmp, no capabilities, 2 GiB limit)"
started=$(date +%s%N)
docker run -d --name "$name" --network host --read-only --tmpfs /tmp:rw,size=256m --cap-drop ALL \
  --security-opt no-new-privileges --memory 2g -e "ASPNETCORE_HTTP_PORTS=$port" \
  -e Kestrel__Endpoints__Http__Url="http://127.0.0.1:$port" "$tag" > /dev/null
until curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null 2>&1; do
  if [[ "$(docker inspect -f '{{.State.Running}}' "$name")" != "true" ]]; then
    docker logs "$name" 2>&1 | tail -n 30; echo "FAIL the container exited"; exit 1
  fi
  if (( $(date +%s%N) - started > 180000000000 )); then
    docker logs "$name" 2>&1 | tail -n 30; echo "FAIL not ready within 180 s"; exit 1
  fi
  sleep 0.2
done
echo "ready after $(( ($(date +%s%N) - started) / 1000000 )) ms"
echo "user in the container: $(docker exec "$name" id)"
[[ "$(docker exec "$name" id -u)" != "0" ]] || fail "the service runs as root"

log "Smoke checks (deploy/smoke.py)"
python3 deploy/smoke.py "http://127.0.0.1:$port" || failures=$((failures + 1))

echo "container memory after the smoke checks: $(docker stats --no-stream --format '{{.MemUsage}}' "$name")"

log "The image's HEALTHCHECK"
for _ in $(seq 120); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$name")
  [[ "$health" == "starting" ]] || break
  sleep 1
done
echo "health status: $health (after $(( ($(date +%s%N) - started) / 1000000000 )) s; the first check runs 15 s after start)"
[[ "$health" == "healthy" ]] || fail "container health is $health"

log "docker stop (SIGTERM)"
stop_started=$(date +%s%N)
docker stop -t 30 "$name" > /dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
echo "stopped in $(( ($(date +%s%N) - stop_started) / 1000000 )) ms, exit code $code"
docker logs "$name" > "$out/service.log" 2>&1
echo "service log: $out/service.log ($(grep -c '' "$out/service.log") lines); last lines:"
tail -n 3 "$out/service.log"
[[ "$code" == "0" ]] || fail "exit code $code after SIGTERM"

echo
if (( failures == 0 )); then echo "docker check: all passed"; else echo "docker check: $failures failure(s)"; fi
(( failures == 0 ))
