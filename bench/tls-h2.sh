#!/usr/bin/env bash
# TLS + HTTP/2 side by side: h2load throughput and `openssl s_time` handshake rate of the sidecar
# and of nginx, on the same certificate and upstream. One worker each, pinned to CPU 1; the load
# and the upstream on CPU 0. Medians over rounds; compare ratios, not absolute numbers.
#   usage: bench/tls-h2.sh [SIDECAR_BINARY]   env: ROUNDS (3) REQUESTS (100000) CONNECTIONS (50) STREAMS (10)
set -euo pipefail
BIN=${1:-.build/release/sidecar}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-100000}
CONNS=${CONNECTIONS:-50}
STREAMS=${STREAMS:-10}
BENCH_NAME=tls-h2
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
  -days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1; daemon on; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events { worker_connections 8192; }
http { access_log off; upstream up { server 127.0.0.1:18300; keepalive 128; }
  server { listen 127.0.0.1:18301 ssl http2 backlog=4096; keepalive_requests 10000000;
    ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem; ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } } }
CONF
start_upstream 18300
taskset -c 1 nginx -c "$WORK/nginx.conf"
SIDECAR_LISTEN=127.0.0.1:18302 SIDECAR_ADMIN_LISTEN=127.0.0.1:19302 SIDECAR_UPSTREAM=http://127.0.0.1:18300 \
  SIDECAR_TLS_CERT_FILE=$WORK/cert.pem SIDECAR_TLS_KEY_FILE=$WORK/key.pem SIDECAR_EVENT_LOOPS=1 \
  taskset -c 1 "$BIN" >"$WORK/sidecar.log" 2>&1 &
PIDS+=($!)
wait_port 18300; wait_port 18301; wait_port 18302 || { cat "$WORK/sidecar.log" >&2; exit 1; }

declare -A PORT=([nginx]=18301 [sidecar]=18302)
for round in $(seq 1 "$ROUNDS"); do
  for target in nginx sidecar; do
    out=$(taskset -c 0 h2load -n "$REQUESTS" -c "$CONNS" -m "$STREAMS" "https://127.0.0.1:${PORT[$target]}/")
    rps=$(grep -oE 'finished in [0-9.]+m?s, [0-9.]+ req/s' <<<"$out" | grep -oE '[0-9.]+ req/s' | cut -d' ' -f1)
    failed=$(grep -oE '[0-9]+ failed' <<<"$out" | head -1 | cut -d' ' -f1)
    handshakes=$(taskset -c 0 openssl s_time -connect "127.0.0.1:${PORT[$target]}" -new -time 4 2>/dev/null |
      grep -oE '[0-9]+ connections in [0-9.]+ real' | head -1 | awk '{printf "%.0f", $1 / $4}')
    echo "$target $round $rps $failed $handshakes" >>"$WORK/rows"
  done
done
python3 - "$WORK/rows" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {}
print(f"{'target':<10}{'h2 req/s (median)':>19}{'failed':>8}{'handshakes/s (median)':>23}")
for t in ("nginx", "sidecar"):
    mine = [r for r in rows if r[0] == t]
    rps = statistics.median(float(r[2]) for r in mine)
    hs = statistics.median(float(r[4] or 0) for r in mine)
    med[t] = (rps, hs)
    print(f"{t:<10}{rps:>19.0f}{sum(int(r[3] or 0) for r in mine):>8}{hs:>23.0f}")
print(f"ratio sidecar/nginx h2 req/s: {med['sidecar'][0] / med['nginx'][0]:.3f}")
print(f"ratio sidecar/nginx handshakes/s: {med['sidecar'][1] / max(med['nginx'][1], 1):.3f}")
PY
