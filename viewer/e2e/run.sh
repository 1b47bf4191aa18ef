#!/usr/bin/env bash
# Builds the neuron viewer and runs its end-to-end test in headless Chromium against a live service.
#
#   viewer/e2e/run.sh                                  builds the API, starts it on 127.0.0.1:$VIEWER_E2E_PORT (5057),
#                                                      runs the test, stops the service
#   RECON_URL=http://127.0.0.1:5057 viewer/e2e/run.sh  uses a service that is already running (e.g. started by .ci/run)
#
# Needs Node.js/npm and Debian's chromium (apt-get install -y chromium); CHROMIUM_PATH overrides /usr/bin/chromium.
# Screenshots and the service log go to viewer/test-output/. Exits non-zero when anything fails.
set -euo pipefail

viewer="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(cd "$viewer/.." && pwd)"
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ ! -x "$chromium" ]; then
  echo "viewer e2e: $chromium not found; install it with: apt-get install -y chromium" >&2
  exit 1
fi

cd "$viewer"
npm ci --no-audit --no-fund
npm run build
mkdir -p test-output

service_pid=""
stop_service() {
  if [ -n "$service_pid" ]; then
    kill -- "-$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
  fi
}
trap stop_service EXIT

if [ -z "${RECON_URL:-}" ]; then
  export RECON_URL="http://127.0.0.1:${VIEWER_E2E_PORT:-5057}"
  # The page was just built; don't let the API's build target build it again.
  dotnet build "$repo/src/Api" -p:BuildViewer=false -nologo -v:q
  echo "viewer e2e: starting the service at $RECON_URL (log: viewer/test-output/service.log)"
  # Its own process group, so that stopping it stops `dotnet run` and the app it starts, and nothing else.
  setsid dotnet run --no-build --project "$repo/src/Api" --urls "$RECON_URL" > test-output/service.log 2>&1 &
  service_pid=$!
else
  echo "viewer e2e: using the service at $RECON_URL"
fi

# The test itself waits (up to 120 s) for /health/ready.
if npm run e2e; then
  echo "viewer e2e: PASS (screenshots in viewer/test-output/)"
else
  echo "viewer e2e: FAIL (see the failing tests above; screenshots and service log in viewer/test-output/)" >&2
  exit 1
fi
