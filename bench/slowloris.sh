#!/usr/bin/env bash
# Slowloris: a normal client's latency (wrk p50/p99) with and without 1,000 connections that
# trickle their request headers, for the sidecar and for nginx in front of the same upstream.
# Both proxies get the same header timeout and one CPU each; wrk and the trickling clients share
# the other CPU with the upstream, so the p99 of both rises with the trickling load's own CPU use.
# The column "trickle CPU" isolates the proxy's cost: the CPU time (ms) the proxy process spent
# during SECONDS_EACH seconds of trickling alone, before wrk starts.
#   usage: bench/slowloris.sh [SIDECAR_BINARY]
#   env: SLOW_CONNECTIONS (1000) SLOW_INTERVAL (1, seconds between header bytes) SECONDS_EACH (10)
#        CONNECTIONS (20, wrk) HEADER_TIMEOUT (10)
set -euo pipefail
BIN=${1:-.build/release/sidecar}
SLOW=${SLOW_CONNECTIONS:-1000}
INTERVAL=${SLOW_INTERVAL:-1}
EACH=${SECONDS_EACH:-10}
CONNS=${CONNECTIONS:-20}
HEADER_TIMEOUT=${HEADER_TIMEOUT:-10}
BENCH_NAME=slowloris
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ulimit -n "$(ulimit -Hn)"

cat >"$WORK/nginx.conf" <<CONF
worker_processes 1; daemon on; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events { worker_connections 8192; }
http { access_log off; client_header_timeout ${HEADER_TIMEOUT}s;
  upstream up { server 127.0.0.1:18300; keepalive 128; }
  server { listen 127.0.0.1:18301 backlog=4096; keepalive_requests 10000000;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } } }
CONF
start_upstream 18300
taskset -c 1 nginx -c "$WORK/nginx.conf"
sleep 0.5
nginx_worker=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)
env SIDECAR_LISTEN=127.0.0.1:18302 SIDECAR_ADMIN_LISTEN=127.0.0.1:19302 SIDECAR_UPSTREAM=http://127.0.0.1:18300 \
  SIDECAR_EVENT_LOOPS=1 SIDECAR_HEADER_TIMEOUT="${HEADER_TIMEOUT}s" SIDECAR_MAX_CONNECTIONS=20000 \
  taskset -c 1 "$BIN" >"$WORK/sidecar.log" 2>&1 &
PIDS+=($!)
sidecar_pid=$!
wait_port 18301
wait_port 18302

# p50 and p99 in milliseconds from `wrk --latency`.
latency() {
  taskset -c 0 wrk -t1 -c"$CONNS" -d"${EACH}s" --latency "http://127.0.0.1:$1/" >"$WORK/wrk.out"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    / requests in / { requests = $1 }
    END { printf "%.2f %.2f %d\n", p50, p99, requests }' "$WORK/wrk.out"
}

# User + system CPU of a process in milliseconds.
cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"
}

printf '%-8s %-22s %8s %8s %9s %12s\n' target load "p50 ms" "p99 ms" requests "trickle CPU"
for target in nginx sidecar; do
  if [[ $target == nginx ]]; then port=18301; pid=$nginx_worker; else port=18302; pid=$sidecar_pid; fi
  read -r p50 p99 requests < <(latency "$port")
  printf '%-8s %-22s %8s %8s %9s\n' "$target" "alone" "$p50" "$p99" "$requests"
  # -x 1: each follow-up is the shortest header line slowhttptest sends (a few bytes) every INTERVAL.
  taskset -c 0 slowhttptest -H -c "$SLOW" -r 500 -i "$INTERVAL" -x 1 -l $((2 * EACH + 30)) -p 30 \
    -u "http://127.0.0.1:$port/" >"$WORK/slow-$target.log" 2>&1 &
  slow=$!
  PIDS+=("$slow")
  sleep 5
  before=$(cpu_ms "$pid")
  sleep "$EACH"
  trickle=$(($(cpu_ms "$pid") - before))
  read -r p50 p99 requests < <(latency "$port")
  printf '%-8s %-22s %8s %8s %9s %9s ms\n' "$target" "+$SLOW trickling" "$p50" "$p99" "$requests" "$trickle"
  kill "$slow" 2>/dev/null || true
  wait "$slow" 2>/dev/null || true
  sleep 2
done
