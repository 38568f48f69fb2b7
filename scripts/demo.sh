#!/usr/bin/env bash
# `make demo`: a demo gateway, the sidecar in front of it (TLS with a certificate made here, HTTP/2 by
# ALPN, in-process limits), requests flowing; then two replicas sharing one limit through Redis.
set -euo pipefail
BIN=${1:-.build/debug/sidecar}
UPSTREAM_PORT=${UPSTREAM_PORT:-18000}
PORT=${PORT:-18443}
CERTS=demo-run
REPLICA_PORTS=(18081 18082)
REDIS_PORT=${REDIS_PORT:-18379}
WORK=$(mktemp -d /tmp/sidecar-demo.XXXXXX)
PIDS=()
cleanup() {
  if [[ -f $WORK/redis.pid ]]; then PIDS+=("$(cat "$WORK/redis.pid")"); fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Wait (at most 10 s) until they are gone: a process still exiting would keep its port from the
  # next run, or write its log into $WORK while it is removed.
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 100); do
    (: >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 did not open" >&2
  return 1
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A certificate for localhost, kept in demo-run/ so the printed curl lines work again later.
mkdir -p "$CERTS"
if [[ ! -f $CERTS/cert.pem ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$CERTS/key.pem" \
    -out "$CERTS/cert.pem" -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
fi
URL="https://localhost:$PORT"
CURL=(curl -sS --cacert "$CERTS/cert.pem")

python3 demo/upstream.py "$UPSTREAM_PORT" &
PIDS+=($!)
wait_port "$UPSTREAM_PORT"

export SIDECAR_TLS_CERT_FILE=$CERTS/cert.pem SIDECAR_TLS_KEY_FILE=$CERTS/key.pem
SIDECAR_LISTEN=127.0.0.1:$PORT SIDECAR_UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT \
  SIDECAR_ADMIN_LISTEN=127.0.0.1:0 SIDECAR_ACCESS_LOG=json SIDECAR_MAX_BODY_BYTES=1MiB \
  SIDECAR_LIMIT_PER_CLIENT="100/s by ip" SIDECAR_SHUTDOWN_GRACE=5s "$BIN" >"$WORK/access.log" 2>"$WORK/sidecar.log" &
SIDECAR=$!
PIDS+=("$SIDECAR")
wait_port "$PORT"

step "the effective configuration (sidecar check)"
SIDECAR_LISTEN=127.0.0.1:$PORT SIDECAR_UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT \
  SIDECAR_LIMIT_PER_CLIENT="100/s by ip" "$BIN" check | sed 's/^/  /'

step "over TLS with HTTP/2: try it yourself with"
echo "  ${CURL[*]} --http2 -i $URL/hello"
"${CURL[@]}" --http2 -i "$URL/hello" -H 'X-Forwarded-For: 6.6.6.6' | sed 's/^/  /'

step "the same over HTTP/1.1: forwarding headers added, X-Request-ID echoed, rate-limit fields"
"${CURL[@]}" --http1.1 -i "$URL/hello" | sed 's/^/  /'

step "TLS 1.1 is refused; TLS 1.3 negotiates h2"
echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 2>&1 | grep -m1 -o 'alert protocol version' | sed 's/^/  TLS 1.1: /' || true
echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 -alpn h2,http/1.1 2>/dev/null |
  grep -a -E '^(New,|ALPN)' | sed 's/^/  TLS 1.3: /'

step "a POST with a 512 KiB body, streamed"
head -c 524288 /dev/zero | "${CURL[@]}" -X POST --data-binary @- "$URL/jobs" | sed 's/^/  /'

step "a 1 MiB+1 body is refused by SIDECAR_MAX_BODY_BYTES=1MiB"
head -c 1048577 /dev/zero | "${CURL[@]}" -o /dev/null -w '  status %{http_code}\n' -X POST --data-binary @- "$URL/jobs"

step "a 64 MiB download streams through"
"${CURL[@]}" -o /dev/null -w '  %{size_download} bytes at %{speed_download} bytes/s over HTTP/%{http_version}\n' "$URL/bytes/67108864"

step "ambiguous framing is refused with 400"
printf 'POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n' |
  timeout 3 openssl s_client -quiet -connect "127.0.0.1:$PORT" -alpn http/1.1 2>/dev/null | head -1 | sed 's/^/  /'

step "SIGTERM while a slow request is in flight: it finishes, then the sidecar exits 0"
"${CURL[@]}" "$URL/slow/1000" | sed 's/^/  slow request: /' &
SLOW=$!
sleep 0.3
kill -TERM "$SIDECAR"
wait "$SLOW"
status=0
wait "$SIDECAR" || status=$?
echo "  sidecar exit status: $status"

step "access log (SIDECAR_ACCESS_LOG=json)"
sed 's/^/  /' "$WORK/access.log"

# --- Two replicas, one limit: the reason the sidecar exists. ---
unset SIDECAR_TLS_CERT_FILE SIDECAR_TLS_KEY_FILE
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
wait_port "$REDIS_PORT"
LIMIT="10/m by ip"
for port in "${REPLICA_PORTS[@]}"; do
  SIDECAR_LISTEN=127.0.0.1:$port SIDECAR_UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT SIDECAR_ADMIN_LISTEN=127.0.0.1:$((port + 1000)) \
    SIDECAR_REDIS_URL=redis://127.0.0.1:$REDIS_PORT SIDECAR_LIMIT_PER_CLIENT="$LIMIT" \
    "$BIN" >/dev/null 2>"$WORK/replica-$port.log" &
  PIDS+=($!)
done
for port in "${REPLICA_PORTS[@]}"; do wait_port "$port" || { cat "$WORK"/replica-*.log >&2; exit 1; }; done
sleep 0.5

step "two replicas share SIDECAR_LIMIT_PER_CLIENT=\"$LIMIT\" through Redis; 40 requests, alternating"
declare -A admitted=([${REPLICA_PORTS[0]}]=0 [${REPLICA_PORTS[1]}]=0)
for i in $(seq 1 40); do
  port=${REPLICA_PORTS[$((i % 2))]}
  code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/jobs/$i")
  [[ $code == 200 ]] && admitted[$port]=$((admitted[$port] + 1))
done
total=$((admitted[${REPLICA_PORTS[0]}] + admitted[${REPLICA_PORTS[1]}]))
echo "  replica :${REPLICA_PORTS[0]} admitted ${admitted[${REPLICA_PORTS[0]}]}"
echo "  replica :${REPLICA_PORTS[1]} admitted ${admitted[${REPLICA_PORTS[1]}]}"
echo "  total admitted $total of 40 (the limit is 10 per minute for the whole fleet, not per replica)"

step "a denied request: 429, Retry-After, RateLimit headers, problem+json"
curl -sS -i "http://127.0.0.1:${REPLICA_PORTS[0]}/jobs/again" | sed 's/^/  /'
echo

step "what Redis holds: one hashed bucket, no client address; EVALSHA calls (denials are cached locally)"
redis-cli -p "$REDIS_PORT" --scan --pattern 'sidecar:*' | while read -r key; do
  echo "  $key  ttl $(redis-cli -p "$REDIS_PORT" pttl "$key") ms"
done
redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | grep -E '^cmdstat_(evalsha|script)' | sed 's/^/  /'

step "decision metrics of each replica (admin port /metrics, non-zero series)"
for port in "${REPLICA_PORTS[@]}"; do
  echo "  replica :$port  (curl http://127.0.0.1:$((port + 1000))/metrics)"
  curl -sS "http://127.0.0.1:$((port + 1000))/metrics" |
    grep -E '^sidecar_(ratelimit_decisions_total|http_requests_total|redis_up|redis_batch_size_count)' |
    grep -vE ' 0(\.0)?$' | sed 's/^/    /'
done
[[ $total -eq 10 ]] || { echo "  unexpected: the fleet admitted $total, not 10" >&2; exit 1; }
