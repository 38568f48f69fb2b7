# Shared by the benchmark scripts (source it): a work folder cleaned up on exit, waiting for a
# port, and the nginx upstream every target proxies to, pinned to CPU 0.
# shellcheck shell=bash

WORK=$(mktemp -d "/tmp/${BENCH_NAME:-bench}.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for f in "$WORK"/*.pid; do
    if [[ -f $f ]]; then kill "$(cat "$f")" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 100); do
    (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 did not open" >&2
  return 1
}

# An nginx answering every request with a short 200, on 127.0.0.1:$1, pinned to CPU 0.
start_upstream() {
  cat >"$WORK/upstream.conf" <<CONF
worker_processes 1; daemon on; pid $WORK/upstream.pid; error_log $WORK/upstream.err;
events { worker_connections 8192; }
http { access_log off; server { listen 127.0.0.1:$1 backlog=4096; keepalive_requests 10000000;
  location / { return 200 "hello from upstream\n"; } } }
CONF
  taskset -c 0 nginx -c "$WORK/upstream.conf"
  wait_port "$1"
}
