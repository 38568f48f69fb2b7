#!/usr/bin/env bash
# `make demo`: a demo gateway, the sidecar in front of it on the embedded default, and requests flowing.
set -euo pipefail
BIN=${1:-.build/debug/sidecar}
UPSTREAM_PORT=${UPSTREAM_PORT:-18000}
PORT=${PORT:-18080}
WORK=$(mktemp -d /tmp/sidecar-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
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
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

python3 demo/upstream.py "$UPSTREAM_PORT" &
PIDS+=($!)
wait_port "$UPSTREAM_PORT"

SIDECAR_LISTEN=127.0.0.1:$PORT SIDECAR_UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT \
  SIDECAR_ADMIN_LISTEN=127.0.0.1:0 SIDECAR_ACCESS_LOG=json SIDECAR_MAX_BODY_BYTES=1MiB \
  SIDECAR_SHUTDOWN_GRACE=5s "$BIN" >"$WORK/access.log" 2>"$WORK/sidecar.log" &
SIDECAR=$!
PIDS+=($SIDECAR)
wait_port "$PORT"

step "the effective configuration (sidecar check)"
SIDECAR_LISTEN=127.0.0.1:$PORT SIDECAR_UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT "$BIN" check | sed 's/^/  /'

step "a GET through the sidecar: forwarding headers added, X-Request-ID echoed"
curl -sS -i "http://127.0.0.1:$PORT/hello" -H 'X-Forwarded-For: 6.6.6.6' | sed 's/^/  /'

step "a POST with a 512 KiB body, streamed"
head -c 524288 /dev/zero | curl -sS -X POST --data-binary @- "http://127.0.0.1:$PORT/jobs" | sed 's/^/  /'

step "a 1 MiB+1 body is refused by SIDECAR_MAX_BODY_BYTES=1MiB"
head -c 1048577 /dev/zero | curl -sS -o /dev/null -w '  status %{http_code}\n' -X POST --data-binary @- "http://127.0.0.1:$PORT/jobs"

step "a 64 MiB download streams through"
curl -sS -o /dev/null -w '  %{size_download} bytes at %{speed_download} bytes/s\n' "http://127.0.0.1:$PORT/bytes/67108864"

step "ambiguous framing is refused with 400"
printf 'POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n' |
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; cat >&3; head -1 <&3" | sed 's/^/  /'

step "SIGTERM while a slow request is in flight: it finishes, then the sidecar exits 0"
curl -sS "http://127.0.0.1:$PORT/slow/1000" | sed 's/^/  slow request: /' &
CURL=$!
sleep 0.3
kill -TERM "$SIDECAR"
wait "$CURL"
status=0
wait "$SIDECAR" || status=$?
echo "  sidecar exit status: $status"

step "access log (SIDECAR_ACCESS_LOG=json)"
sed 's/^/  /' "$WORK/access.log"
