"""The JSON report: valid against the schema, per app and kind, with exactly what the run spent.

On the fake Cloudflare because the count of requests is exact only over namespaces holding exactly what the
test wrote; the local stack's namespaces hold what its apps and flows wrote. A failure in the report and the
JUnit file, and keyword selection, run against the local Cloudflare (test_local.py).
"""

from __future__ import annotations

from kvstack.schemas import validator

from .conftest import World


def test_report_is_valid_and_says_what_was_checked_and_spent(world: World) -> None:
    outcome = world.run("bindings", "keyspaces", apps=("codex",))
    report = world.last_report
    validator("check-report").validate(report)
    assert report["exit_code"] == outcome.exit_code == 0
    assert report["target"] == "cloudflare"
    assert report["options"]["apps"] == ["codex"]
    assert {(g["app"], g["kind"]) for g in report["by_app_and_kind"]} == {("codex", "bindings"), ("codex", "keyspaces")}
    assert all(c["app"] == "codex" for c in report["checks"])
    assert {s["binding"] for s in report["keyspaces"]} == {"AUTH_SESSION_KV", "CACHE_KV"}
    spent = report["spent"]
    # 4 namespace gets, 1 script settings, 4 list pages, 1 bulk get per non-empty namespace (2).
    assert spent["api_requests"] == 11
    assert spent["kv_lists"] == 4
    assert spent["kv_reads"] == 3  # a session, a login counter, a cache entry
    smoke = report["smoke"]
    assert (smoke["keys_written"], smoke["remaining"], smoke["cleanup_errors"]) == (0, [], [])
