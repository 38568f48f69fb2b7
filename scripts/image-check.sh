#!/usr/bin/env bash
# The container image, built and run by a real Docker engine (`make image-check`, run by .ci/run).
#
#   1. starts its own dockerd (Debian's docker.io) with no bridge and no iptables: every container
#      uses --network host and all traffic stays on loopback. Its socket, data and logs are under
#      $IMAGE_CHECK_DIR (default /var/lib/sidecar-image-check), kept between runs as a cache.
#   2. makes the Dockerfile's base images (nothing can be pulled), tagged with the exact FROM names:
#        debian:bookworm-slim  debootstrap --variant=minbase bookworm
#        swift:6.3-bookworm    bookworm with the official image's build packages, this machine's
#                              Swift toolchain (/opt/swift) and its local package mirror
#                              (/opt/swift-packages) with the same git `insteadOf` settings
#      reused while their key (toolchain version, mirror refs, package list) is unchanged.
#   3. `docker build -f docker/Dockerfile -t sidecar .` (BuildKit; RUN steps on the host network).
#   4. runs the image as production does: --read-only, --cap-drop ALL, no-new-privileges, user
#      10001, k8s/base/sidecar.env and limits.env, a test certificate and JWT key mounted
#      read-only, Redis and an upstream (demo/upstream.py) on loopback. Checks: ldd of the binary,
#      --version, a request over TLS, /metrics, HEALTHCHECK `healthy`, `docker stop` exit 0 within
#      SIDECAR_SHUTDOWN_GRACE.
#   5. `docker-compose -f docker/docker-compose.prod.yml config` (Debian's docker-compose).
# When dockerd cannot start, the runtime checks of step 4 run instead in a `chroot --userspec
# 10001:10001` of the debootstrap root with the runtime packages and a host-built release binary,
# and the output says so. A step that cannot run fails the check with a plain message.
#
# Needs root (dockerd, debootstrap, chroot). Installs docker.io, debootstrap, docker-compose,
# redis-server, curl, openssl, python3 through scripts/install-deps.sh when missing.
#   IMAGE_CHECK_DIR=/path      cache directory (default /var/lib/sidecar-image-check)
#   IMAGE_CHECK_ENGINE=chroot  skip dockerd and run the chroot checks (to try the fallback)
#   IMAGE_CHECK_REBUILD_BASE=1 make the base images again
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD

STATE=${IMAGE_CHECK_DIR:-/var/lib/sidecar-image-check}
DOCKER=/usr/bin/docker # Debian's client (20.10, BuildKit built in), not a newer one on PATH
DOCKERD=/usr/sbin/dockerd
SWIFT_ROOT=/opt/swift
SWIFT_PACKAGES=/opt/swift-packages
MIRROR=http://deb.debian.org/debian
IMAGE=sidecar
# The official swift:*-bookworm image's build packages, and libncurses6 (swift, swift-frontend and
# the REPL load libncurses.so.6, libform.so.6, libpanel.so.6; minbase has only libtinfo6).
SWIFT_IMAGE_PACKAGES=binutils,git,gnupg2,libc6-dev,libcurl4-openssl-dev,libedit2,libgcc-12-dev,libncurses6,libpython3-dev,libsqlite3-0,libstdc++-12-dev,libxml2-dev,libz3-dev,pkg-config,tzdata,zlib1g-dev,ca-certificates
SLIM_TAG=debian:bookworm-slim
SWIFT_TAG=swift:6.3-bookworm
KEY_LABEL=org.sidecar.image-check.key

started=$SECONDS
step() { printf '\n=== [%4ds] %s\n' $((SECONDS - started)) "$*"; }
fail() {
  echo "image-check: FAILED: $*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || fail "needs root (it starts dockerd, runs debootstrap and chroot)"

step "tools"
scripts/install-deps.sh docker.io debootstrap docker-compose redis-server curl openssl python3 ca-certificates
[[ -x $DOCKER && -x $DOCKERD ]] || fail "$DOCKER or $DOCKERD missing after installing docker.io"
[[ -x $SWIFT_ROOT/usr/bin/swift ]] || fail "no Swift toolchain at $SWIFT_ROOT (the swift base image is made from it)"
[[ -d $SWIFT_PACKAGES ]] || fail "no package mirror at $SWIFT_PACKAGES (the swift base image needs it: no network to GitHub)"
"$DOCKER" --version
docker-compose --version

mkdir -p "$STATE/roots" "$STATE/run"
tmp=$(mktemp -d /tmp/sidecar-image-check.XXXXXX)
chmod 0755 "$tmp"
pids=()
containers=()
dockerd_pid=
chroot_mounts=()

cleanup() {
  local rc=$?
  set +e
  for c in "${containers[@]}"; do
    docker rm -f "$c" >/dev/null 2>&1
  done
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  for ((i = ${#chroot_mounts[@]} - 1; i >= 0; i--)); do
    umount "${chroot_mounts[$i]}" 2>/dev/null
  done
  if [[ -n $dockerd_pid ]]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$dockerd_pid" 2>/dev/null && { echo "dockerd $dockerd_pid did not stop: SIGKILL" >&2; kill -9 "$dockerd_pid"; }
    echo "stopped dockerd (pid $dockerd_pid)"
  fi
  rm -rf "$tmp"
  if [[ $rc -eq 0 ]]; then
    printf '\nimage-check: every check passed (%ds)\n' $((SECONDS - started))
  else
    printf '\nimage-check: FAILED after %ds (exit %d)\n' $((SECONDS - started)) "$rc" >&2
  fi
}
trap cleanup EXIT

docker() { "$DOCKER" -H "unix://$STATE/run/docker.sock" "$@"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- debootstrap roots (cached) ----------------------------------------------------------------

# debootstrap_root NAME [--include=...]: $STATE/roots/NAME, made once (a stamp marks it complete).
debootstrap_root() {
  local name=$1 root=$STATE/roots/$1
  shift
  if [[ -f $root.stamp && $(cat "$root.stamp") == "$*" ]]; then
    echo "  $root: cached ($(du -sh "$root" | cut -f1))"
    return
  fi
  echo "  debootstrap --variant=minbase $* bookworm $root"
  rm -rf "$root" "$root.tmp"
  debootstrap --variant=minbase "$@" bookworm "$root.tmp" "$MIRROR" >"$STATE/debootstrap-$name.log" 2>&1 ||
    fail "debootstrap of $name failed: see $STATE/debootstrap-$name.log"
  mv "$root.tmp" "$root"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  echo "$*" >"$root.stamp"
}

# --- the engine --------------------------------------------------------------------------------

engine=docker
start_dockerd() {
  if [[ ${IMAGE_CHECK_ENGINE:-docker} == chroot ]]; then
    echo "  IMAGE_CHECK_ENGINE=chroot: not starting dockerd"
    return 1
  fi
  if [[ -f $STATE/run/dockerd.pid ]] && kill -0 "$(cat "$STATE/run/dockerd.pid")" 2>/dev/null; then
    fail "a dockerd of an earlier run is still running (pid $(cat "$STATE/run/dockerd.pid")): stop it first"
  fi
  rm -f "$STATE/run/docker.sock" "$STATE/run/dockerd.pid"
  "$DOCKERD" --data-root "$STATE/docker" --exec-root "$STATE/run/exec" \
    --pidfile "$STATE/run/dockerd.pid" -H "unix://$STATE/run/docker.sock" \
    --bridge=none --iptables=false --ip-masq=false \
    >"$STATE/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
      echo "  dockerd pid $dockerd_pid, socket $STATE/run/docker.sock, data $STATE/docker"
      docker info --format '  engine {{.ServerVersion}}, storage driver {{.Driver}}, cgroup {{.CgroupVersion}}'
      return 0
    fi
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 1
  done
  echo "  dockerd did not start; last lines of $STATE/dockerd.log:"
  tail -n 15 "$STATE/dockerd.log" | sed 's/^/    /'
  kill "$dockerd_pid" 2>/dev/null
  wait "$dockerd_pid" 2>/dev/null || true
  dockerd_pid=
  return 1
}

step "dockerd (--bridge=none --iptables=false --ip-masq=false)"
if ! start_dockerd; then
  engine=chroot
  echo "  THE DOCKER ENGINE CANNOT RUN HERE: falling back to the runtime checks in a"
  echo "  chroot --userspec=10001:10001 of the debootstrap root (no image is built or run)"
fi

# --- base images -------------------------------------------------------------------------------

# make_base TAG ROOT KEY [tar arguments after the root...]: imports ROOT (plus extra paths) as TAG
# unless an image with that tag and key label is already in the cached data root.
make_base() {
  local tag=$1 root=$2 key=$3
  shift 3
  if [[ ${IMAGE_CHECK_REBUILD_BASE:-0} != 1 ]] &&
    [[ $(docker image inspect -f "{{index .Config.Labels \"$KEY_LABEL\"}}" "$tag" 2>/dev/null) == "$key" ]]; then
    echo "  $tag: cached ($(docker image inspect -f '{{.Id}}' "$tag" | cut -c1-19))"
    return
  fi
  local previous
  previous=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  echo "  $tag: docker import of $root $*"
  tar --numeric-owner -C "$root" -c . "$@" |
    docker import --change "LABEL $KEY_LABEL=$key" \
      --change 'ENV PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' - "$tag" >/dev/null || fail "docker import of $tag failed"
  docker image inspect -f "  $tag: {{.Id}} {{.Size}} bytes" "$tag"
  # The replaced image (now untagged) would only fill the cache.
  [[ -z $previous ]] || docker rmi "$previous" >/dev/null 2>&1 || true
}

step "base roots (debootstrap, cached under $STATE/roots)"
debootstrap_root bookworm-slim
debootstrap_root swift-bookworm --include="$SWIFT_IMAGE_PACKAGES"
# The swift root: the same git insteadOf settings as here, so SwiftPM inside the build reaches the
# package mirror copied to the same path.
for from in https://github.com/ git@github.com: ssh://git@github.com/; do
  git config --file "$STATE/roots/swift-bookworm/etc/gitconfig" --replace-all \
    "url.$SWIFT_PACKAGES/.insteadOf" "$from" "^$(printf '%s' "$from" | sed 's/[.]/[.]/g')\$"
done
swift_version=$("$SWIFT_ROOT/usr/bin/swift" --version 2>/dev/null | sed -n 1p)
mirror_refs=$(find "$SWIFT_PACKAGES" \( -name packed-refs -o -path '*/refs/*' \) -type f -printf '%P %s %T@\n' |
  sort | sha256sum | cut -c1-16)

if [[ $engine == docker ]]; then
  step "base images (tagged with the Dockerfile's FROM names)"
  make_base "$SLIM_TAG" "$STATE/roots/bookworm-slim" "minbase-$(sha256sum <"$STATE/roots/bookworm-slim.stamp" | cut -c1-16)"
  make_base "$SWIFT_TAG" "$STATE/roots/swift-bookworm" \
    "$(printf '%s|%s|%s' "$swift_version" "$mirror_refs" "$SWIFT_IMAGE_PACKAGES" | sha256sum | cut -c1-16)" \
    -C / "${SWIFT_ROOT#/}" "${SWIFT_PACKAGES#/}"
  docker images --format '{{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' | sed 's/^/  /'
  # The toolchain must start in its image (a library it loads and the root lacks shows here).
  docker run --rm --network host "$SWIFT_TAG" swift --version 2>&1 | sed 's/^/  in swift:6.3-bookworm: /'
  docker run --rm --network host "$SWIFT_TAG" swift --version >/dev/null 2>&1 ||
    fail "swift does not run in $SWIFT_TAG (a library missing from the root?)"
  docker run --rm --network host "$SWIFT_TAG" git config --system --get-all url.$SWIFT_PACKAGES/.insteadOf |
    sed 's/^/  in swift:6.3-bookworm: git insteadOf /'
fi

# --- the image -----------------------------------------------------------------------------------

if [[ $engine == docker ]]; then
  step "docker build -f docker/Dockerfile -t $IMAGE ."
  # BuildKit (20.10 needs it asked for: RUN --mount=type=cache). --network host: the engine has no
  # bridge, RUN steps (apt-get) use the host's network.
  build_started=$SECONDS
  DOCKER_BUILDKIT=1 docker build --progress=plain --network host -f docker/Dockerfile -t "$IMAGE" . \
    >"$STATE/build.log" 2>&1 || {
    tail -n 40 "$STATE/build.log" >&2
    fail "docker build failed: full log in $STATE/build.log"
  }
  grep -E '^#[0-9]+ (\[|DONE|CACHED)' "$STATE/build.log" | grep -E '\[|CACHED' | sed 's/^/  /' | tail -n 20
  echo "  built in $((SECONDS - build_started))s"
  # An earlier build's image, untagged by this one (the build cache is kept).
  docker image prune -f >/dev/null
  docker image inspect -f "  $IMAGE: {{.Id}} {{.Size}} bytes" "$IMAGE"
  docker image inspect -f '  user {{.Config.User}}, entrypoint {{json .Config.Entrypoint}}, stop signal {{.Config.StopSignal}}' "$IMAGE"
  docker image inspect -f '  healthcheck {{json .Config.Healthcheck.Test}}' "$IMAGE"
else
  step "release binary on the host (the image cannot be built without the engine)"
  swift build -c release --static-swift-stdlib --product sidecar
  binary=$(swift build -c release --show-bin-path)/sidecar
  rroot=$STATE/roots/runtime-chroot
  if [[ ! -f $rroot.stamp ]]; then
    echo "  $rroot: the slim root with the runtime stage's packages and user"
    rm -rf "$rroot"
    cp -a "$STATE/roots/bookworm-slim" "$rroot"
    cp /etc/resolv.conf "$rroot/etc/resolv.conf"
    chroot "$rroot" sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends libhiredis0.14 ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/* && groupadd --system --gid 10001 sidecar && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sidecar' ||
      fail "could not install the runtime packages in $rroot"
    touch "$rroot.stamp"
  fi
  install -D -m 0755 "$binary" "$rroot/usr/local/bin/sidecar"
  mkdir -p "$rroot/proc" "$rroot/dev" "$rroot/etc/sidecar"
  mount -t proc proc "$rroot/proc" && chroot_mounts+=("$rroot/proc")
  mount --bind /dev "$rroot/dev" && chroot_mounts+=("$rroot/dev")
fi

# --- fixtures: certificate, JWT key, Redis, upstream --------------------------------------------

step "fixtures: test certificate, JWT key, Redis and the upstream on loopback"
mkdir -p "$tmp/etc-sidecar/tls" "$tmp/etc-sidecar/jwt" "$tmp/etc-sidecar/redis"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
  -keyout "$tmp/etc-sidecar/tls/tls.key" -out "$tmp/etc-sidecar/tls/tls.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/jwt.key"
openssl ec -in "$tmp/jwt.key" -pubout -out "$tmp/etc-sidecar/jwt/public.pem" 2>/dev/null
redis_port=$(free_port)
redis_password=$(openssl rand -hex 16)
cat >"$tmp/redis.conf" <<EOF
bind 127.0.0.1
port $redis_port
save ""
appendonly no
dir $tmp
user default on nopass ~* &* +@all
user sidecar on >$redis_password ~* &* +@all
EOF
redis-server "$tmp/redis.conf" >"$tmp/redis.log" 2>&1 &
pids+=($!)
echo "redis://sidecar:$redis_password@127.0.0.1:$redis_port/0" >"$tmp/etc-sidecar/redis/url"
# Readable by UID 10001 only through its group, as docs/deploy.md says for the secret files.
chgrp -R 10001 "$tmp/etc-sidecar"
chmod -R u=rwX,g=rX,o= "$tmp/etc-sidecar"
chmod 0755 "$tmp/etc-sidecar"
upstream_port=$(free_port)
python3 demo/upstream.py "$upstream_port" &
pids+=($!)
listen_port=$(free_port)
admin_port=$(free_port)
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null "http://127.0.0.1:$upstream_port/" 2>/dev/null && redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$redis_port" ping >/dev/null || fail "redis-server did not start (see $tmp/redis.log)"
curl -fsS -o /dev/null "http://127.0.0.1:$upstream_port/" || fail "demo/upstream.py did not start"
echo "  certificate CN=localhost (P-256), JWT ES256 public key, redis 127.0.0.1:$redis_port (ACL user sidecar)"
echo "  upstream demo/upstream.py 127.0.0.1:$upstream_port; sidecar TLS 127.0.0.1:$listen_port, admin 127.0.0.1:$admin_port"

# The k8s ConfigMap's settings and rules, with the addresses moved to free loopback ports (the
# host network is shared) and the upstream pointed at demo/upstream.py.
env_files=(k8s/base/sidecar.env k8s/base/limits.env)
overrides=(
  "SIDECAR_LISTEN=127.0.0.1:$listen_port"
  "SIDECAR_ADMIN_LISTEN=127.0.0.1:$admin_port"
  "SIDECAR_UPSTREAM=http://127.0.0.1:$upstream_port"
)
grace=$(sed -n 's/^SIDECAR_SHUTDOWN_GRACE=\([0-9]*\)s$/\1/p' k8s/base/sidecar.env)
[[ -n $grace ]] || fail "no SIDECAR_SHUTDOWN_GRACE=<n>s in k8s/base/sidecar.env"

# --- runtime checks ------------------------------------------------------------------------------

https_request() {
  curl -sS --max-time 10 --cacert "$tmp/etc-sidecar/tls/tls.crt" --resolve "localhost:$listen_port:127.0.0.1" \
    -D "$tmp/headers" -o "$tmp/body" "https://localhost:$listen_port/hello?from=image-check"
}

wait_ready() {
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$admin_port/readyz" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

served_request_checks() {
  step "a request over TLS (the k8s limits apply)"
  https_request || fail "the request over TLS failed"
  head -n 1 "$tmp/headers" | tr -d '\r' | sed 's/^/  /'
  grep -iE '^(ratelimit|ratelimit-policy|server|content-type):' "$tmp/headers" | tr -d '\r' | sed 's/^/  /'
  echo "  body: $(cat "$tmp/body")"
  head -n 1 "$tmp/headers" | grep -q ' 200' || fail "expected 200 from the upstream through the sidecar"
  grep -q '"from the gateway"' "$tmp/body" || fail "the body is not the upstream's"
  grep -qi '^ratelimit-policy:' "$tmp/headers" || fail "no RateLimit-Policy header: were the k8s limits loaded?"

  step "/metrics on the admin port"
  curl -fsS "http://127.0.0.1:$admin_port/metrics" >"$tmp/metrics" || fail "GET /metrics failed"
  grep -E '^sidecar_(build_info|http_requests_total)' "$tmp/metrics" | sed -n '1,4s/^/  /p'
  grep -q '^sidecar_http_requests_total' "$tmp/metrics" || fail "no sidecar_http_requests_total in /metrics"
  grep -q '^sidecar_ratelimit_decisions_total' "$tmp/metrics" || fail "no sidecar_ratelimit_decisions_total in /metrics"
}

run_flags=(
  --network host --read-only --cap-drop ALL --security-opt no-new-privileges --user 10001
  --env-file k8s/base/sidecar.env --env-file k8s/base/limits.env
  -v "$tmp/etc-sidecar/tls:/etc/sidecar/tls:ro"
  -v "$tmp/etc-sidecar/jwt:/etc/sidecar/jwt:ro"
  -v "$tmp/etc-sidecar/redis:/etc/sidecar/redis:ro"
)
for o in "${overrides[@]}"; do run_flags+=(-e "$o"); done

if [[ $engine == docker ]]; then
  step "ldd /usr/local/bin/sidecar (inside the image)"
  docker run --rm --network host --entrypoint ldd "$IMAGE" /usr/local/bin/sidecar | sed 's/^/  /'
  docker run --rm --network host --entrypoint ldd "$IMAGE" /usr/local/bin/sidecar | grep -q 'not found' &&
    fail "a library of the binary is missing in the image"

  step "sidecar --version (docker run ${run_flags[*]:0:9} $IMAGE --version)"
  docker run --rm "${run_flags[@]}" "$IMAGE" --version | sed 's/^/  /'

  step "docker run -d (hardened, the k8s ConfigMap's settings and limits)"
  name=sidecar-image-check-$$
  containers+=("$name")
  docker run -d --name "$name" "${run_flags[@]}" "$IMAGE" >/dev/null
  docker inspect -f '  read-only {{.HostConfig.ReadonlyRootfs}}, cap-drop {{.HostConfig.CapDrop}}, security-opt {{.HostConfig.SecurityOpt}}, user {{.Config.User}}, network {{.HostConfig.NetworkMode}}' "$name"
  wait_ready || {
    docker logs "$name" 2>&1 | tail -n 20 >&2
    fail "the sidecar did not become ready (/readyz)"
  }
  # sed, not head: it reads to the end, so docker logs never dies of SIGPIPE (exit 141 under pipefail).
  docker logs "$name" 2>&1 | sed -n 1,3p | cut -c1-200 | sed 's/^/  log: /'

  served_request_checks

  step "HEALTHCHECK (sidecar healthcheck) reaches healthy"
  status=
  for _ in $(seq 1 60); do
    status=$(docker inspect -f '{{.State.Health.Status}}' "$name")
    [[ $status == healthy || $status == unhealthy ]] && break
    sleep 1
  done
  echo "  docker inspect: Health.Status=$status after $(docker inspect -f '{{len .State.Health.Log}}' "$name") probe(s)"
  docker inspect -f '{{range .State.Health.Log}}  probe exit {{.ExitCode}}: {{.Output}}{{end}}' "$name" | sed -n 1,3p
  [[ $status == healthy ]] || fail "HEALTHCHECK status is '$status', not healthy"

  step "docker stop (SIGTERM, grace ${grace}s from SIDECAR_SHUTDOWN_GRACE)"
  stop_started=$(date +%s.%N)
  docker stop -t $((grace + 10)) "$name" >/dev/null
  stop_seconds=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$stop_started" "$(date +%s.%N)")
  exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
  oom=$(docker inspect -f '{{.State.OOMKilled}}' "$name")
  echo "  exit code $exit_code after ${stop_seconds}s (OOMKilled=$oom)"
  docker logs "$name" 2>&1 | tail -n 2 | cut -c1-200 | sed 's/^/  log: /'
  [[ $exit_code == 0 ]] || fail "docker stop: exit code $exit_code, not 0"
  python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$stop_seconds" "$grace" ||
    fail "docker stop took ${stop_seconds}s, not within the ${grace}s grace period"
else
  rroot=$STATE/roots/runtime-chroot
  # The chroot's environment: the env files' assignments (comments and blank lines dropped),
  # then the overrides, as docker run --env-file and -e give them.
  mapfile -t chroot_env < <(cat "${env_files[@]}" | grep -E '^[A-Z_][A-Z0-9_]*=')
  chroot_env+=("${overrides[@]}")
  # The secret files, read-only as the image's volumes are.
  mount --bind -o ro "$tmp/etc-sidecar" "$rroot/etc/sidecar" || fail "could not bind-mount the test secrets into $rroot"
  chroot_mounts+=("$rroot/etc/sidecar")
  in_chroot() { chroot --userspec=10001:10001 "$rroot" env -i PATH=/usr/local/bin:/usr/bin:/bin "${chroot_env[@]}" "$@"; }

  step "ldd /usr/local/bin/sidecar (chroot fallback: in the debootstrap root)"
  chroot "$rroot" ldd /usr/local/bin/sidecar | sed 's/^/  /'
  chroot "$rroot" ldd /usr/local/bin/sidecar | grep -q 'not found' && fail "a library of the binary is missing in the root"

  step "sidecar --version (chroot --userspec=10001:10001)"
  in_chroot /usr/local/bin/sidecar --version | sed 's/^/  /'

  step "sidecar in chroot --userspec=10001:10001 (the k8s ConfigMap's settings and limits)"
  # exec: chroot and env exec in turn, so the PID signalled below is the sidecar's own, not that of
  # a subshell whose death would leave the sidecar running.
  (exec chroot --userspec=10001:10001 "$rroot" env -i PATH=/usr/local/bin:/usr/bin:/bin "${chroot_env[@]}" \
    /usr/local/bin/sidecar) >"$tmp/chroot.log" 2>&1 &
  sidecar_pid=$!
  pids+=("$sidecar_pid")
  wait_ready || {
    tail -n 20 "$tmp/chroot.log" >&2
    fail "the sidecar did not become ready (/readyz)"
  }

  served_request_checks

  step "sidecar healthcheck (what the HEALTHCHECK runs)"
  in_chroot /usr/local/bin/sidecar healthcheck || fail "sidecar healthcheck failed"
  echo "  healthcheck exit 0"

  step "SIGTERM (grace ${grace}s from SIDECAR_SHUTDOWN_GRACE)"
  stop_started=$SECONDS
  kill -TERM "$sidecar_pid"
  exit_code=0
  wait "$sidecar_pid" || exit_code=$?
  echo "  exit code $exit_code after $((SECONDS - stop_started))s"
  [[ $exit_code == 0 ]] || fail "SIGTERM: exit code $exit_code, not 0"
  ((SECONDS - stop_started < grace)) || fail "the sidecar took longer than the ${grace}s grace period"
fi

# --- compose --------------------------------------------------------------------------------------

step "docker-compose -f docker/docker-compose.prod.yml config"
# The variables the file requires come from docker/.env.example; the secret files only need to
# exist for `config` (empty stand-ins in a copy of docker/).
cp -a docker "$tmp/compose"
mkdir -p "$tmp/compose/secrets" "$tmp/k8s"
cp -a k8s/monitoring "$tmp/k8s/"
for f in tls.crt tls.key jwt-public.pem redis-users.acl redis_url; do
  [[ -e $tmp/compose/secrets/$f ]] || : >"$tmp/compose/secrets/$f"
done
(cd "$tmp/compose" && docker-compose --env-file .env.example -f docker-compose.prod.yml config \
  >"$tmp/compose.out" 2>"$tmp/compose.err") || {
  cat "$tmp/compose.err" >&2
  fail "docker-compose config failed"
}
# Warnings (1.29 ignores `configs:` outside a swarm; Compose v2 mounts them).
sed 's/^/  docker-compose says: /' "$tmp/compose.err"
echo "  ok, services: $(sed -n '/^services:/,/^[a-z]/p' "$tmp/compose.out" | grep -oE '^  [a-z0-9-]+' | tr -d ' ' | tr '\n' ' ')"

if [[ $engine == chroot ]]; then
  echo
  echo "NOTE: the Docker engine could not run here; the runtime checks ran in a chroot of the"
  echo "debootstrap root, not in the image (see the dockerd step above)."
fi
cd "$REPO"
