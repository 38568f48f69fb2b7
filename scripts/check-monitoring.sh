#!/usr/bin/env bash
# Checks the monitoring assets in k8s/monitoring:
#   - alerts.yml is a valid Prometheus rule file (promtool check rules),
#   - alerts.test.yml passes (promtool test rules),
#   - dashboard.json is valid JSON, has the datasource and instance variables,
#     and each panel query is valid PromQL (checked by promtool as a rule),
#   - every sidecar_* and process_* metric name in these files is one of
#     the README's metrics table (histograms also with _bucket, _sum, _count).
# Needs promtool and python3; runs yamllint too when it is installed.
# Usage: scripts/check-monitoring.sh (from any directory).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=k8s/monitoring

for tool in promtool python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check-monitoring: $tool not found (Debian: apt-get install prometheus python3)" >&2
    exit 2
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== promtool check rules $dir/alerts.yml"
promtool check rules "$dir/alerts.yml"

echo "== promtool test rules $dir/alerts.test.yml"
promtool test rules "$dir/alerts.test.yml"

if command -v yamllint >/dev/null 2>&1; then
  echo "== yamllint"
  yamllint --strict "$dir/alerts.yml" "$dir/alerts.test.yml"
else
  echo "== yamllint not installed: skipped"
fi

echo "== $dir/dashboard.json and metric names"
python3 - "$dir" "$tmp/dashboard-queries.json" <<'PY'
import json
import re
import sys

directory, rules_out = sys.argv[1], sys.argv[2]

# The README's metrics table.
counters_gauges = {
    "sidecar_http_requests_total",
    "sidecar_upstream_errors_total",
    "sidecar_ratelimit_decisions_total",
    "sidecar_redis_errors_total",
    "sidecar_redis_up",
    # Beyond section 7: master moves (issue 8/9, Redis through failover).
    "sidecar_redis_failovers_total",
    # Cluster redirects followed (issue 8/9, Redis Cluster).
    "sidecar_redis_redirects_total",
    "sidecar_connections_active",
    "sidecar_tls_handshake_errors_total",
    "sidecar_tls_certificate_expiry_timestamp_seconds",
    "sidecar_build_info",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_start_time_seconds",
}
histograms = {
    "sidecar_http_request_duration_seconds",
    "sidecar_upstream_request_duration_seconds",
    "sidecar_redis_request_duration_seconds",
    "sidecar_redis_batch_size",
}
# In queries a histogram only exists as its _bucket, _sum and _count series.
in_queries = counters_gauges | {
    h + s for h in histograms for s in ("_bucket", "_sum", "_count")
}
# Prose (annotations, descriptions) may name the histogram itself.
in_text = in_queries | histograms
name_re = re.compile(r"\b(?:sidecar|process)_[a-z_]+")
problems = []


def check(names, allowed, where):
    for name in sorted(set(names) - allowed):
        problems.append(f"{where}: unknown metric name {name}")


# Dashboard: structure and queries.
path = f"{directory}/dashboard.json"
try:
    with open(path, encoding="utf-8") as f:
        dashboard = json.load(f)
except (OSError, ValueError) as error:
    sys.exit(f"{path}: {error}")

variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
datasource = variables.get("datasource", {})
if datasource.get("type") != "datasource" or datasource.get("query") != "prometheus":
    problems.append(f"{path}: no Prometheus datasource variable named datasource")
if not variables.get("instance", {}).get("multi"):
    problems.append(f"{path}: no multi-select variable named instance")

queries = []
ids = set()


def walk(panels):
    for panel in panels:
        title = panel.get("title", "?")
        if panel.get("id") in ids:
            problems.append(f"{path}: panel id {panel.get('id')} used twice")
        ids.add(panel.get("id"))
        if panel.get("type") != "row":
            if panel.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"{path}: panel {title!r} does not use ${{datasource}}")
            if not panel.get("targets"):
                problems.append(f"{path}: panel {title!r} has no query")
        for target in panel.get("targets", []):
            queries.append((title, target.get("expr", "")))
        walk(panel.get("panels", []))


walk(dashboard.get("panels", []))
for title, expr in queries:
    check(name_re.findall(expr), in_queries, f"{path} panel {title!r}")

# The queries, with Grafana's variables replaced, as a rule file for promtool.
rules = [
    {
        "record": f"dashboard:query:{i}",
        "expr": expr.replace("$__rate_interval", "5m").replace("$instance", ".*"),
    }
    for i, (_, expr) in enumerate(queries)
]
with open(rules_out, "w", encoding="utf-8") as f:
    json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)

# Alert and recording rule expressions: "expr: ..." or a block below "expr: |".
path = f"{directory}/alerts.yml"
with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
for number, line in enumerate(lines):
    match = re.match(r"^(\s*)expr:\s*(.*)$", line)
    if not match:
        continue
    indent, value = len(match.group(1)), match.group(2)
    expr = [] if value[:1] in ("|", ">") else [value]
    if not expr:
        for following in lines[number + 1:]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            expr.append(following)
    check(name_re.findall("\n".join(expr)), in_queries, f"{path} line {number + 1}")

# Everything else (annotations, test series, panel descriptions).
for name in ("alerts.yml", "alerts.test.yml", "dashboard.json"):
    with open(f"{directory}/{name}", encoding="utf-8") as f:
        check(name_re.findall(f.read()), in_text, f"{directory}/{name}")

if problems:
    sys.exit("\n".join(problems))
print(f"  {len(queries)} dashboard queries, metric names OK")
PY

echo "== promtool check rules (dashboard queries as PromQL)"
promtool check rules "$tmp/dashboard-queries.json"

echo "check-monitoring: OK"
