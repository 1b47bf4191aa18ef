#!/usr/bin/env bash
# Static checks of the deployment files, in seconds and without Docker: the manifests parse and agree
# (deploy/validate_manifests.py), nginx accepts both configurations (`nginx -t`), docker compose accepts the compose
# file (when a compose CLI is installed), and the scripts parse. Exits 1 if any check failed.
#   deploy/validate.sh          (needs python3-yaml and nginx: apt-get install python3-yaml nginx)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
PYTHON="${RECON_PYTHON:-/usr/bin/python3}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
result() { if [[ $1 -eq 0 ]]; then echo "ok   $2"; else echo "FAIL $2"; failed=$((failed + 1)); fi; }

"$PYTHON" deploy/validate_manifests.py || failed=$((failed + 1))

nginx_test() { # name, config file
  local out rc=0
  out=$(nginx -t -q -p "$work/" -e "$work/error.log" -c "$2" 2>&1) || rc=$?
  result $rc "nginx -t: $1${out:+ ($out)}"
}
if command -v nginx > /dev/null || [[ -x /usr/sbin/nginx ]]; then
  PATH="$PATH:/usr/sbin"
  # The loopback cluster test's configuration, as deploy/cluster-test.sh writes it around the shared proxy rules.
  cat > "$work/cluster.conf" <<EOF
pid $work/nginx.pid;
events {}
http {
    client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi; access_log off;
    upstream reconservice { server 127.0.0.1:5391 max_fails=0; server 127.0.0.1:5392 max_fails=0; keepalive 16; }
    server { listen 127.0.0.1:5390; add_header X-Upstream \$upstream_addr always; include $repo/deploy/nginx/reconservice-proxy.conf; }
}
EOF
  nginx_test "cluster-test configuration" "$work/cluster.conf"
  # compose.conf as the nginx container reads it. `resolve` needs nginx 1.27.3 or later and the service name resolves
  # only inside compose, so an older local nginx tests a copy without `resolve`, pointed at 127.0.0.1.
  version=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
  sed -e "s|/etc/nginx/reconservice-proxy.conf|$repo/deploy/nginx/reconservice-proxy.conf|" \
      -e "s|^\(\s*\)listen 8080;|\1listen 127.0.0.1:5390;|" -e "s|reconservice:8080|127.0.0.1:8080|" \
      -e "s|/dev/stdout|$work/access.log|" -e "s|/dev/stderr|$work/error.log|" deploy/nginx/compose.conf > "$work/compose.conf"
  if [[ "$(printf '%s\n' "$version" 1.27.3 | sort -V | head -n 1)" != "1.27.3" ]]; then
    sed -i -e 's/ resolve / /' "$work/compose.conf"
    note=" (nginx $version: checked without 'resolve')"
  fi
  sed -i "1i pid $work/nginx.pid;" "$work/compose.conf"
  sed -i "s|^http {|http {\n    client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fastcgi; uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;|" "$work/compose.conf"
  nginx_test "deploy/nginx/compose.conf${note:-}" "$work/compose.conf"
else
  result 1 "nginx -t: nginx is not installed (apt-get install nginx)"
fi

if docker compose version > /dev/null 2>&1; then
  rc=0; docker compose -f docker-compose.yml config -q || rc=$?; result $rc "docker compose config"
elif command -v docker-compose > /dev/null; then
  rc=0; docker-compose -f docker-compose.yml config -q || rc=$?; result $rc "docker-compose config ($(docker-compose version --short))"
else
  echo "skip docker compose config: no compose CLI"
fi

for script in deploy/*.sh; do rc=0; bash -n "$script" || rc=$?; result $rc "bash -n $script"; done
for script in deploy/*.py; do rc=0; "$PYTHON" -m py_compile "$script" || rc=$?; result $rc "python3 -m py_compile $script"; done
find deploy -name __pycache__ -prune -exec rm -rf {} +

echo
echo "deploy validate: $failed failure(s)"
(( failed == 0 ))
