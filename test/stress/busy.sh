#!/usr/bin/env bash
# Keeps both cores busy for SECONDS (default 3600) with wrk against a private nginx on loopback, so a
# suite can be run on a loaded machine (a flaky test shows itself there):
#
#   bash test/stress/busy.sh 1800 &   # then: npm test
#
# nginx runs with its own prefix and config in a temp dir on a free 127.0.0.1 port; both it and wrk
# are stopped by pid when the time is up or this script is interrupted. Needs Debian's nginx and wrk.
set -euo pipefail
SECONDS_BUSY=${1:-3600}
dir=$(mktemp -d /tmp/unicorn-busy-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir/logs" "$dir/html"
echo hello > "$dir/html/index.html"
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  server { listen 127.0.0.1:$port; root $dir/html; }
}
CONF
nginx -p "$dir" -c "$dir/nginx.conf" &
nginx_pid=$!
cleanup() {
  [ -n "${wrk_pid:-}" ] && kill "$wrk_pid" 2>/dev/null || true
  kill "$nginx_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
echo "busy: wrk -t2 -c32 against nginx on 127.0.0.1:$port for ${SECONDS_BUSY}s (pid $$)"
wrk -t2 -c32 -d"${SECONDS_BUSY}s" "http://127.0.0.1:$port/" > "$dir/wrk.out" &
wrk_pid=$!
wait "$wrk_pid" || true
