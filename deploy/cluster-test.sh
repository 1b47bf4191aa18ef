#!/usr/bin/env bash
# Cluster test on loopback: two replicas of the published service behind Debian's nginx (the rules of
# deploy/nginx/reconservice-proxy.conf, as docker compose uses them) sharing a Redis (Debian's redis-server), with load
# through nginx (tools/LoadTest) while one replica is killed (SIGKILL) and restarted and the other is drained (SIGTERM).
#
#   deploy/cluster-test.sh            (as root on Debian/Ubuntu it installs nginx and redis-server when missing)
#
# Passes when: no client request failed (every answer a 200; nginx retries the idempotent engine requests on the other
# replica), sampled answers equal a sequential run, a request answered by one replica is an X-Cache hit on the other
# (Redis, Cache:Redis), the drained replica answers readiness 503 at once, finishes its running and queued requests and
# answers a new engine request 503 with Retry-After, then exits 0; and with Redis stopped answers still come and the
# failures are counted (recon_cache_errors_total). Prints the figures (requests, p50/p99, failures, cache hits) and one
# PASS/FAIL line per check; exits 1 if any check failed. Everything listens on 127.0.0.1 only and stops at the end.
# Settings: RECON_CLUSTER_PORT (nginx; the replicas use the next two ports, Redis the third; default 5390, clear of the 5191–5195 and 5291–5295 other runs use),
# RECON_CLUSTER_SECONDS (load duration, default 45), RECON_CLUSTER_CLIENTS (default 8), RECON_DRAIN_TIMEOUT_S (20).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
out="$repo/artifacts/cluster"
PYTHON="${RECON_PYTHON:-/usr/bin/python3}"
base_port="${RECON_CLUSTER_PORT:-5390}"
nginx_port=$base_port
ports=($((base_port + 1)) $((base_port + 2)))
redis_port=$((base_port + 3))
seconds="${RECON_CLUSTER_SECONDS:-45}"
clients="${RECON_CLUSTER_CLIENTS:-8}"
drain_timeout="${RECON_DRAIN_TIMEOUT_S:-20}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

declare -A pid=()      # replica index -> pid
nginx_pid="" redis_pid="" load_pid="" nginx_temp=""
checks=()              # "PASS|FAIL name: detail"

log() { printf '\n==> [%s] %s\n' "$(date +%T)" "$*"; }
record() { checks+=("$1 $2: $3"); printf '%s %s: %s\n' "$1" "$2" "$3"; }
url() { echo "http://127.0.0.1:${ports[$1]}"; }

stop_pid() { # pid [signal]
  [[ -n "$1" ]] && kill -0 "$1" 2> /dev/null || return 0
  kill "-${2:-TERM}" "$1" 2> /dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2> /dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2> /dev/null || true
  { wait "$1"; } 2> /dev/null || true
}
cleanup() {
  stop_pid "$load_pid" KILL
  for i in "${!pid[@]}"; do stop_pid "${pid[$i]}" KILL; done
  stop_pid "$nginx_pid" QUIT
  stop_pid "$redis_pid"
  [[ -n "$nginx_temp" ]] && rm -rf "$nginx_temp"
}
# (stderr: bash's notices about the replicas it kills here are noise)
trap 'cleanup 2> /dev/null' EXIT

install_prerequisites() {
  local packages=()
  command -v nginx > /dev/null || [[ -x /usr/sbin/nginx ]] || packages+=(nginx)
  command -v redis-server > /dev/null || packages+=(redis-server)
  command -v curl > /dev/null || packages+=(curl)
  [[ -x "$PYTHON" ]] || packages+=(python3)
  (( ${#packages[@]} == 0 )) && return
  [[ $EUID -eq 0 ]] || { echo "missing ${packages[*]}; install them (apt-get install ${packages[*]}) or run as root"; exit 1; }
  log "apt-get install ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" > /dev/null
  # Where the packages started their own services (port 80, 6379), stop them: this test runs its own on loopback ports.
  for service in nginx redis-server; do [[ -x /etc/init.d/$service ]] && /etc/init.d/$service stop > /dev/null 2>&1 || true; done
}

start_replica() { # index
  local i=$1
  ( cd "$out/api" && exec ./ReconService.Api --urls "$(url "$i")" --Cache:Redis="127.0.0.1:$redis_port" \
      --Drain:TimeoutSeconds="$drain_timeout" ) >> "$out/replica$i.log" 2>&1 &
  pid[$i]=$!
  echo "replica $i: pid ${pid[$i]} on $(url "$i")"
}

wait_ready() { # index; prints ms
  local i=$1 started; started=$(date +%s%N)
  until curl -sf "$(url "$i")/health/ready" > /dev/null 2>&1; do
    kill -0 "${pid[$i]}" 2> /dev/null || { echo "replica $i exited:"; tail -n 30 "$out/replica$i.log"; return 1; }
    (( $(date +%s%N) - started < 180000000000 )) || { echo "replica $i not ready in 180 s"; return 1; }
    sleep 0.1
  done
  echo "replica $i ready after $(( ($(date +%s%N) - started) / 1000000 )) ms"
}

install_prerequisites
rm -rf "$out"; mkdir -p "$out/nginx"

log "Publish the service and the load client (Release)"
dotnet publish src/Api/Api.csproj -c Release -o "$out/api" -p:BuildViewer=false --nologo -v quiet
dotnet publish tools/LoadTest/LoadTest.csproj -c Release -o "$out/loadtest" --nologo -v quiet

log "Redis on 127.0.0.1:$redis_port"
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --protected-mode yes \
  --logfile "$out/redis.log" --dir "$out" &
redis_pid=$!

log "Replicas"
for i in 0 1; do start_replica "$i"; done
for i in 0 1; do wait_ready "$i"; done

log "nginx on 127.0.0.1:$nginx_port"
# nginx's workers (an unprivileged user when started as root) write large bodies and answers to temp files: under /tmp,
# which they can reach wherever the clone is (a checkout under /root is not traversable by them).
nginx_temp=$(mktemp -d /tmp/reconservice-nginx.XXXXXX)
chmod 0777 "$nginx_temp"
cat > "$out/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $out/nginx/nginx.pid;
error_log $out/nginx/error.log warn;
events { worker_connections 512; }
http {
    access_log $out/nginx/access.log;
    client_body_temp_path $nginx_temp/body;
    proxy_temp_path $nginx_temp/proxy;
    fastcgi_temp_path $nginx_temp/fastcgi;
    uwsgi_temp_path $nginx_temp/uwsgi;
    scgi_temp_path $nginx_temp/scgi;
    upstream reconservice {
        server 127.0.0.1:${ports[0]} max_fails=0;
        server 127.0.0.1:${ports[1]} max_fails=0;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        # Which replica(s) answered ("a, b" after a retry): counted by the load client.
        add_header X-Upstream \$upstream_addr always;
        include $repo/deploy/nginx/reconservice-proxy.conf;
    }
}
EOF
nginx -t -q -e "$out/nginx/error.log" -c "$out/nginx/nginx.conf" -g 'daemon off;'
nginx -e "$out/nginx/error.log" -c "$out/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nginx_port/health/ready" > /dev/null 2>&1 && break; sleep 0.1; done

# A client retry (one) covers the one case no proxy can: a replica killed while writing an answer, after nginx has
# forwarded its headers. Such retries are counted and printed; every other failure fails the test.
log "Load: $clients clients for $seconds s through nginx (tools/LoadTest, 32 tokens, 400 distinct bodies)"
dotnet "$out/loadtest/ReconService.LoadTest.dll" --url "http://127.0.0.1:$nginx_port" --endpoint /v1/activations \
  --clients "$clients" --seconds "$seconds" --tokens 32 --distinct 400 --sample-every 25 --require-ok 1 --client-retries 1 > "$out/load.log" 2>&1 &
load_pid=$!
load_started=$(date +%s)

sleep 6
log "SIGKILL replica 0 (pid ${pid[0]}) mid-run, then start it again"
kill -KILL "${pid[0]}"; wait "${pid[0]}" 2> /dev/null || true
start_replica 0
wait_ready 0
sleep 2

log "Drain replica 1 (pid ${pid[1]}) with SIGTERM while it has queued work ($(( $(date +%s) - load_started )) s into the load)"
drain_started=$(date +%s%N)
"$PYTHON" deploy/cluster_probe.py drain "$(url 1)" "${pid[1]}" --busy 6 --log "$out/replica1.log" | tee "$out/drain.log"
drain_code=0
for _ in $(seq $(( (drain_timeout + 15) * 10 ))); do kill -0 "${pid[1]}" 2> /dev/null || break; sleep 0.1; done
if kill -0 "${pid[1]}" 2> /dev/null; then
  drain_code="still running after $((drain_timeout + 15)) s"
else
  wait "${pid[1]}" 2> /dev/null || drain_code=$?
fi
drain_ms=$(( ($(date +%s%N) - drain_started) / 1000000 ))
echo "replica 1 exited ${drain_code} after ${drain_ms} ms"
start_replica 1
wait_ready 1

log "Waiting for the load to finish"
load_code=0
wait "$load_pid" || load_code=$?
load_pid=""
cat "$out/load.log"

log "Shared cache across replicas, then Redis down"
"$PYTHON" deploy/cluster_probe.py shared-cache "$(url 0)" "$(url 1)" | tee "$out/shared-cache.log"
declare -A log_lines=()
for i in 0 1; do log_lines[$i]=$(grep -c '' "$out/replica$i.log" || true); done
stop_pid "$redis_pid"; redis_pid=""
"$PYTHON" deploy/cluster_probe.py redis-down "http://127.0.0.1:$nginx_port" "$(url 0)" "$(url 1)" | tee "$out/redis-down.log"
# Warnings or errors about Redis logged by either replica after it stopped.
redis_logged=$(for i in 0 1; do tail -n "+$(( ${log_lines[$i]} + 1 ))" "$out/replica$i.log"; done | grep -E '(WRN|ERR|FTL)' | grep -ci 'redis' || true)

log "Results"
summary=$(grep '^SUMMARY ' "$out/load.log" || echo "SUMMARY (none: the load client failed)")
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$summary"; }
echo "figures: requests $(field requests), ok $(field ok), failed $(field failed) (client retries after a lost connection:" \
     "$(field client_retries)), p50 $(field p50_ms) ms, p99 $(field p99_ms) ms, cache hits $(field cache_hits), misses" \
     "$(field cache_misses); drain of replica 1: ${drain_ms} ms, exit ${drain_code}"
grep -E '^(X-Upstream|X-Cache|status counts)' "$out/load.log" || true
echo
[[ $load_code -eq 0 && "$(field failed)" == "0" ]] && r=PASS || r=FAIL
record "$r" "no failed client requests" "$(field failed) failed of $(field requests) (load client exit $load_code)"
[[ "$(field wrong)" == "0" ]] && r=PASS || r=FAIL
record "$r" "answers equal a sequential run" "$(field wrong) sampled answers differ"
while read -r _ name verdict detail; do
  record "$verdict" "$name" "$detail"
done < <(cat "$out/drain.log" "$out/shared-cache.log" "$out/redis-down.log" | grep '^PROBE ')
[[ "$drain_code" == "0" ]] && r=PASS || r=FAIL
record "$r" "drain.exit" "replica 1 exited ${drain_code} ${drain_ms} ms after SIGTERM (Drain:TimeoutSeconds $drain_timeout)"
(( redis_logged > 0 )) && r=PASS || r=FAIL
record "$r" "redis-down.logged" "$redis_logged warnings or errors about Redis in the replicas' logs once it stopped"
hits=$(field cache_hits)
(( ${hits:-0} > 0 )) && r=PASS || r=FAIL
record "$r" "cache hits under load" "$(field cache_hits) X-Cache hits, $(field cache_misses) misses"

failed=$(printf '%s\n' "${checks[@]}" | grep -c '^FAIL' || true)
echo
echo "logs: $out"
echo "cluster-test: $(( ${#checks[@]} - failed )) passed, $failed failed"
(( failed == 0 ))
