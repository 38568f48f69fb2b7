#!/usr/bin/env bash
# CPU time (user + system) the proxy process spends per request under wrk, for the sidecar and nginx
# on the same upstream. Less noisy than req/s on a shared machine: a busy neighbour slows both, but
# the CPU each spends per request stays put.
#   usage: bench/cpu-per-request.sh [SIDECAR_BINARY]   env: SECONDS_EACH (5) CONNECTIONS (50) ROUNDS (3)
set -euo pipefail
BIN=${1:-.build/release/sidecar}
EACH=${SECONDS_EACH:-5}
CONNS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-3}
BENCH_NAME=cpu-per-request
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

cat >"$WORK/nginx.conf" <<CONF
worker_processes 1; daemon on; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events { worker_connections 8192; }
http { access_log off; upstream up { server 127.0.0.1:18200; keepalive 128; }
  server { listen 127.0.0.1:18201 backlog=4096; keepalive_requests 10000000;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } } }
CONF
start_upstream 18200
taskset -c 1 nginx -c "$WORK/nginx.conf"
# SIDECAR_EXTRA_ENV holds several NAME=value words on purpose, split by the shell.
# shellcheck disable=SC2086
env SIDECAR_LISTEN=127.0.0.1:18202 SIDECAR_ADMIN_LISTEN=127.0.0.1:19202 SIDECAR_UPSTREAM=http://127.0.0.1:18200 \
  SIDECAR_EVENT_LOOPS=1 ${SIDECAR_EXTRA_ENV:-} taskset -c 1 "$BIN" >"$WORK/sidecar.log" 2>&1 &
PIDS+=($!)
SIDECAR_PID=$!
wait_port 18200; wait_port 18201; wait_port 18202
NGINX_WORKER=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)
HZ=$(getconf CLK_TCK)

for round in $(seq 1 "$ROUNDS"); do
  for target in nginx sidecar; do
    if [[ $target == nginx ]]; then pid=$NGINX_WORKER; port=18201; else pid=$SIDECAR_PID; port=18202; fi
    before=$(ticks "$pid")
    out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${EACH}s" "http://127.0.0.1:$port/")
    after=$(ticks "$pid")
    requests=$(grep -oE '^ +[0-9]+ requests' <<<"$out" | grep -oE '[0-9]+')
    echo "$target $round $requests $((after - before))" >>"$WORK/rows"
  done
done
python3 - "$WORK/rows" "$HZ" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
hz = int(sys.argv[2])
per = {}
for t, _, reqs, ticks in rows:
    per.setdefault(t, []).append(int(ticks) / hz / max(int(reqs), 1) * 1e6)
for t, values in per.items():
    print(f"{t:<10} CPU per request (median of {len(values)}): {statistics.median(values):6.1f} us")
print(f"ratio sidecar/nginx CPU per request: {statistics.median(per['sidecar']) / statistics.median(per['nginx']):.2f}")
PY
