#!/usr/bin/env bash
# `make demo`: the main job end to end on this machine, no Cloudflare account needed.
#   validate the catalog → start the local Cloudflare and apply the dev stack through its API →
#   show the outputs and the rendered wrangler files → the CI drift gate on the repo's own app files →
#   the post-deploy checks → the account audit (inventory, keyspaces, usage and forecast) → stop.
set -uo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false
started=$(date +%s)
status=0
section() { printf '\n\033[1m== %s\033[0m\n' "$1"; }

trap 'kvstack local down >/dev/null 2>&1 || true' EXIT
kvstack local down >/dev/null 2>&1 || true   # a previous demo that was interrupted

section "1. the catalog (Pulumi.yaml + Pulumi.dev.yaml)"
kvstack validate --stack dev || exit 2

section "2. kvstack local up --stack dev (API, pulumi program applied through it, wrangler dev)"
kvstack local up --stack dev || exit 2

section "3. the outputs document the program exported (real local ids; token values stay secret)"
kvstack local outputs --stack dev

section "4. the reference apps' wrangler files as kvstack render wrote them (what workerd runs)"
for file in .kvstack/local/tree/apps/dubai-app-front/wrangler.toml .kvstack/local/tree/apps/codex/wrangler.toml; do
  echo "--- $file (kv_namespaces)"
  grep -n -B1 -A3 'binding = ' "$file" | head -24
done
kvstack render --stack dev --into .kvstack/local/tree --outputs .kvstack/local/stacks/dev.outputs.json --check \
  && echo "render --check on the local tree: no drift"

section "5. the CI drift gate on the repo's own app files (they still carry placeholder ids: exit 1 expected)"
kvstack render --stack dev --outputs .kvstack/local/stacks/dev.outputs.json --check | tail -25
echo "(render --check exit code: ${PIPESTATUS[0]})"

section "6. kvstack check --stack dev --local (bindings, tokens, key schemas, flows)"
mkdir -p reports
kvstack check --stack dev --local --json reports/check.json --junit reports/check.xml || status=1

section "7. kvstack audit --stack dev --local (every namespace classified, keyspaces, usage, 30-day forecast)"
audit_status=0
kvstack audit --stack dev --local --json reports/audit.json --html reports/audit.html \
  --import-file reports/audit-import.json || audit_status=$?
[ $audit_status -le 1 ] || status=1

section "8. kvstack local down"
kvstack local down
trap - EXIT

section "summary"
echo "demo finished in $(( $(date +%s) - started )) s; checks: $([ $status -eq 0 ] && echo 'all passed' || echo 'FAILED')"
python - <<'PY' || status=1
import json
report = json.load(open("reports/audit.json"))
summary = report["summary"]
counts = summary["findings"]
print(f"audit: {summary['namespaces']} namespaces ({', '.join(f'{n} {c}' for c, n in summary['by_classification'].items())}), "
      f"{summary['keys']} keys; findings: {counts['error']} errors, {counts['warning']} warnings, {counts['info']} info; "
      f"{report['spent']['api_requests']} API requests; exit code {report['exit_code']}")
for sentence in summary["forecast"]:
    print(f"  forecast: {sentence}")
print(f"  projected monthly cost on Workers Paid: ${summary['projected_monthly_cost_usd']:.2f}")
PY
echo "reports: reports/check.json, reports/check.xml, reports/audit.json, reports/audit.html, reports/audit-import.json"
exit $status
