#!/usr/bin/env bash
# `make demo`: the demo gateway (demo/gateway, FastAPI under uvicorn, tokens signed with a secret
# made here), the sidecar in front of it (TLS with a certificate made here, HTTP/2 by ALPN,
# in-process limits), requests flowing; then two replicas sharing one per-user limit (`jwt:sub`)
# through Redis. The gateway runs from the venv `make demo-venv` makes (DEMO_VENV to use another).
set -euo pipefail
BIN=${1:-.build/debug/sidecar}
VENV=${DEMO_VENV:-.build-demo-venv}
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
# wait_gateway PID: until the gateway started as PID answers GET /health (not merely until its
# port opens, which a process still exiting from an earlier run could hold).
wait_gateway() {
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || break
    curl -sf -o /dev/null "http://127.0.0.1:$UPSTREAM_PORT/health" && return 0
    sleep 0.1
  done
  echo "the gateway did not start on port $UPSTREAM_PORT:" >&2
  cat "$WORK/gateway.log" >&2
  return 1
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
PY=$VENV/bin/python
# json_field NAME: the field NAME of the JSON object on stdin.
json_field() { "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# jwt_claims TOKEN: the token's claims (its middle part, base64url-decoded; not verified).
jwt_claims() { "$PY" -c 'import base64, sys; p = sys.argv[1].split(".")[1]; print(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())' "$1"; }
# job_body BYTES: a JSON job whose payload is BYTES bytes long.
job_body() { printf '{"task":"upload","payload":"'; head -c "$1" /dev/zero | tr '\0' x; printf '"}'; }

if [[ ! -x $VENV/bin/uvicorn ]]; then
  echo "no uvicorn in $VENV: run \`make demo-venv\` first (make demo does)" >&2
  exit 1
fi

# A certificate for localhost, kept in demo-run/ so the printed curl lines work again later.
mkdir -p "$CERTS"
if [[ ! -f $CERTS/cert.pem ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$CERTS/key.pem" \
    -out "$CERTS/cert.pem" -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
fi
URL="https://localhost:$PORT"
CURL=(curl -sS --cacert "$CERTS/cert.pem")

# One random HS256 secret: the gateway signs tokens with it, the sidecar verifies them with it.
openssl rand -hex 32 >"$WORK/jwt-secret"
DEMO_JWT_SECRET_FILE=$WORK/jwt-secret "$VENV/bin/uvicorn" app:app --app-dir demo/gateway \
  --host 127.0.0.1 --port "$UPSTREAM_PORT" --log-level warning --no-access-log >"$WORK/gateway.log" 2>&1 &
PIDS+=($!)
wait_gateway "$!"

# The sidecar in front of it, given the same secret: `by jwt:sub` counts each user apart.
SIDECAR_ENV=(SIDECAR_LISTEN="127.0.0.1:$PORT" SIDECAR_UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT"
  SIDECAR_TLS_CERT_FILE="$CERTS/cert.pem" SIDECAR_TLS_KEY_FILE="$CERTS/key.pem"
  SIDECAR_JWT_HS256_SECRET_FILE="$WORK/jwt-secret" SIDECAR_LIMIT_PER_USER="100/s burst 200 by jwt:sub"
  SIDECAR_ADMIN_LISTEN=127.0.0.1:0 SIDECAR_ACCESS_LOG=json SIDECAR_MAX_BODY_BYTES=1MiB SIDECAR_SHUTDOWN_GRACE=5s)
env "${SIDECAR_ENV[@]}" "$BIN" >"$WORK/access.log" 2>"$WORK/sidecar.log" &
SIDECAR=$!
PIDS+=("$SIDECAR")
wait_port "$PORT" || { cat "$WORK/sidecar.log" >&2; exit 1; }

step "the effective configuration (sidecar check)"
env "${SIDECAR_ENV[@]}" "$BIN" check | sed 's/^/  /'

step "over TLS with HTTP/2: try it yourself with"
echo "  ${CURL[*]} --http2 -i $URL/health"
"${CURL[@]}" --http2 -i "$URL/health" | sed 's/^/  /'
echo

step "the same over HTTP/1.1: X-Request-ID added and echoed, rate-limit fields"
"${CURL[@]}" --http1.1 -i "$URL/health" | sed 's/^/  /'
echo

step "TLS 1.1 is refused; TLS 1.3 negotiates h2"
echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 2>&1 | grep -m1 -o 'alert protocol version' | sed 's/^/  TLS 1.1: /' || true
echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 -alpn h2,http/1.1 2>/dev/null |
  grep -a -E '^(New,|ALPN)' | sed 's/^/  TLS 1.3: /'

step "tokens for alice (a form) and bob (JSON) from the gateway's POST /token, through the sidecar"
echo "  ${CURL[*]} $URL/token -d username=alice"
ALICE=$("${CURL[@]}" -f "$URL/token" -d username=alice | json_field access_token)
BOB=$("${CURL[@]}" -f "$URL/token" -H 'Content-Type: application/json' -d '{"username":"bob"}' | json_field access_token)
echo "  alice: ${ALICE:0:24}...  claims $(jwt_claims "$ALICE")"
echo "  bob:   ${BOB:0:24}...  claims $(jwt_claims "$BOB")"

step "POST /jobs without a token: the gateway answers 401"
"${CURL[@]}" -w '  status %{http_code}\n' -X POST "$URL/jobs" | sed 's/^{/  {/'

step "alice POSTs a job with a 512 KiB body, streamed; the gateway answers 201"
job_body 524288 | "${CURL[@]}" -X POST -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
  --data-binary @- -w '\n  status %{http_code}\n' "$URL/jobs" | sed 's/^{/  {/'

step "a 1 MiB+1 body is refused by SIDECAR_MAX_BODY_BYTES=1MiB"
job_body 1048577 | "${CURL[@]}" -o /dev/null -w '  status %{http_code}\n' -X POST -H "Authorization: Bearer $ALICE" \
  -H 'Content-Type: application/json' --data-binary @- "$URL/jobs"

step "ambiguous framing is refused with 400"
printf 'POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n' |
  timeout 3 openssl s_client -quiet -connect "127.0.0.1:$PORT" -alpn http/1.1 2>/dev/null | sed -n 1p | sed 's/^/  /'

step "SIGTERM while a slow upload is in flight (256 KiB at 256 KiB/s): it finishes, then the sidecar exits 0"
job_body 262144 | "${CURL[@]}" --limit-rate 256K -o /dev/null -w '  slow upload: status %{http_code} after %{time_total} s\n' \
  -X POST -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' --data-binary @- "$URL/jobs" &
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
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
wait_port "$REDIS_PORT"
JOBS_LIMIT="3/m burst 3 by jwt:sub on POST /jobs"
REPLICA_ENV=(SIDECAR_UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT" SIDECAR_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  SIDECAR_JWT_HS256_SECRET_FILE="$WORK/jwt-secret" SIDECAR_LIMIT_JOBS="$JOBS_LIMIT"
  SIDECAR_METRICS_ROUTES="/token, /jobs, /jobs/*, /health")
for port in "${REPLICA_PORTS[@]}"; do
  env "${REPLICA_ENV[@]}" SIDECAR_LISTEN="127.0.0.1:$port" SIDECAR_ADMIN_LISTEN="127.0.0.1:$((port + 1000))" \
    "$BIN" >/dev/null 2>"$WORK/replica-$port.log" &
  PIDS+=($!)
done
for port in "${REPLICA_PORTS[@]}"; do wait_port "$port" || { cat "$WORK"/replica-*.log >&2; exit 1; }; done
sleep 0.5

step "two replicas (:${REPLICA_PORTS[0]}, :${REPLICA_PORTS[1]}) with one Redis, the same secret and one rule (sidecar check)"
env "${REPLICA_ENV[@]}" "$BIN" check | grep -E '^SIDECAR_(REDIS_URL|JWT_HS256_SECRET_FILE|LIMIT_[A-Z0-9_]+|METRICS_ROUTES)=' | sed 's/^/  /'

step "alice, then bob, POST /jobs 4 times each, alternating the replicas"
declare -A token=([alice]=$ALICE [bob]=$BOB) codes=()
FIRST_JOB=
for user in alice bob; do
  for i in 1 2 3 4; do
    port=${REPLICA_PORTS[$(((i - 1) % 2))]}
    code=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X POST -H "Authorization: Bearer ${token[$user]}" \
      -H 'Content-Type: application/json' -d "{\"task\":\"report $i\"}" "http://127.0.0.1:$port/jobs")
    codes[$user]="${codes[$user]:-}${codes[$user]:+ }$code"
    detail=$(tr -d '\r' <"$WORK/headers" | grep -i -m1 '^ratelimit:' || true)
    if [[ $code == 201 ]]; then
      id=$(json_field id <"$WORK/body")
      FIRST_JOB=${FIRST_JOB:-$id}
      detail="job $id  $detail"
    fi
    printf '  %-5s POST /jobs #%s via replica :%s  %s  %s\n' "$user" "$i" "$port" "$code" "$detail"
  done
done
if [[ ${codes[alice]} == "201 201 201 429" && ${codes[bob]} == "201 201 201 429" ]]; then
  echo "  alice's 4th is refused (3 for the whole fleet, though the replicas took turns) while bob's first is"
  echo "  admitted: the bucket is the token's sub, one per user"
fi

step "a denied request: 429, Retry-After, RateLimit headers, problem+json"
curl -sS -i -X POST -H "Authorization: Bearer $ALICE" "http://127.0.0.1:${REPLICA_PORTS[0]}/jobs" | sed 's/^/  /'
echo

step "GET /jobs/{id}: alice's first job, read through replica :${REPLICA_PORTS[1]} (the rule covers only POST); an unknown id is 404"
curl -sS -w '\n  status %{http_code}\n' "http://127.0.0.1:${REPLICA_PORTS[1]}/jobs/$FIRST_JOB" | sed 's/^{/  {/'
curl -sS -w '\n  status %{http_code}\n' "http://127.0.0.1:${REPLICA_PORTS[1]}/jobs/no-such-job" | sed 's/^{/  {/'

step "what Redis holds: one hashed bucket per user (no name, no token), the replicas' heartbeats; EVALSHA calls (denials are cached locally)"
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
for user in alice bob; do
  [[ ${codes[$user]} == "201 201 201 429" ]] || {
    echo "  unexpected: $user's POSTs answered ${codes[$user]}, not 201 201 201 429" >&2
    exit 1
  }
done
