# sidecar: `make demo` shows it working, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
SWIFT ?= swift
PEERS ?= ../shared/bench/peers.sh
# Debian packages the build, the tests and the demo use.
APT_PACKAGES := libhiredis-dev pkg-config redis-server python3 python3-venv curl openssl prometheus yamllint nghttp2-client

.PHONY: deps tools build release run demo demo-venv test lint lint-deploy image image-check format bench clean

deps:
	@scripts/install-deps.sh $(APT_PACKAGES)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --static-swift-stdlib --product sidecar

run: build
	$(SWIFT) run sidecar

demo: deps demo-venv
	$(SWIFT) build --product sidecar
	scripts/demo.sh .build/debug/sidecar

# The demo gateway's venv (FastAPI, uvicorn, PyJWT from PyPI, as pinned in the requirements),
# made again when the requirements change. scripts/demo.sh runs uvicorn from it.
DEMO_VENV := .build-demo-venv
DEMO_REQUIREMENTS := demo/gateway/requirements.txt

demo-venv: $(DEMO_VENV)/requirements.txt

$(DEMO_VENV)/requirements.txt: $(DEMO_REQUIREMENTS)
	@python3 -c 'import ensurepip' 2>/dev/null || scripts/install-deps.sh python3-venv
	@test -x $(DEMO_VENV)/bin/pip || python3 -m venv --clear $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(DEMO_REQUIREMENTS)
	cp $(DEMO_REQUIREMENTS) $@

# Python tools the tests run (in a venv, not the system Python): sslyze, and Starlette served by
# uvicorn as the real gateway stack of the request-target differential test.
TOOLS_PIP := sslyze starlette 'uvicorn[standard]' h2

tools: deps
	@test -x .venv-tools/bin/sslyze -a -x .venv-tools/bin/uvicorn -a -d .venv-tools/lib/python3*/site-packages/h2 || { python3 -m venv .venv-tools && .venv-tools/bin/pip install -q $(TOOLS_PIP); }

test: deps tools lint lint-deploy
	scripts/check-monitoring.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

lint:
	$(SWIFT) format lint --strict --recursive Package.swift Sources Tests

# Offline checks of docker/, k8s/, the workflows and the scripts (hadolint, kubernetes-validate,
# checkov, yamllint, actionlint, shellcheck, promtool, environment-variable drift).
lint-deploy:
	scripts/lint-deploy.sh

# The container image (needs a Docker engine).
image:
	docker build -f docker/Dockerfile -t sidecar .

# The image built and run by a real Docker engine (its own dockerd, needs root): base images made
# with debootstrap and the local Swift toolchain, `docker build`, then the hardened container with
# the k8s settings: --version, a TLS request, /metrics, HEALTHCHECK healthy, `docker stop` exit 0;
# `docker-compose config` of the production file. Cache: /var/lib/sidecar-image-check.
image-check:
	scripts/image-check.sh

format:
	$(SWIFT) format --in-place --recursive Package.swift Sources Tests

# Side by side with nginx and HAProxy (req/s ratios), CPU time per request against nginx, and
# TLS + HTTP/2 (h2load, handshakes) against nginx.
bench: release
	@scripts/install-deps.sh nginx haproxy wrk nghttp2-client
	@test -x $(PEERS) || { echo "no benchmark script at $(PEERS) (set PEERS=path/to/peers.sh)"; exit 2; }
	$(PEERS) .build/release/sidecar
	bench/cpu-per-request.sh .build/release/sidecar
	bench/tls-h2.sh .build/release/sidecar

clean:
	rm -rf .build $(DEMO_VENV)
