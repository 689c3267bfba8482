"""``kvstack audit``: the account as it really is, against what the catalog declares.

target.py     where to look (the target registry, kvstack/targets), with the audit token
account.py    Pages projects, Worker scripts, and each token as the account sees it (it verifies itself)
inventory.py  namespaces classified; drift, dangling bindings, tokens
keyspace.py   what each namespace holds (list + sampled bulk get)
usage.py      operations and storage per day (GraphQL Analytics) and the forecast
pricing.py    Workers KV's free tier and prices, with their source
importfile.py the `pulumi import --file` document and the `adopt:` lines
run.py        one run, gathering all of the above
report.py     the JSON report (kvstack/schemas/audit-report.schema.json)
html.py       the self-contained HTML report
"""

from kvstack.audit.findings import SEVERITIES, AuditFinding, Severity
from kvstack.audit.run import AuditResult, Progress, run_audit
from kvstack.audit.target import AuditOptions, AuditTarget, open_target

__all__ = [
    "SEVERITIES",
    "AuditFinding",
    "AuditOptions",
    "AuditResult",
    "AuditTarget",
    "Progress",
    "Severity",
    "open_target",
    "run_audit",
]
