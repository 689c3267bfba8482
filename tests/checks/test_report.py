"""The JSON report and JUnit XML: valid against the schema, per app and kind, with what the run spent."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

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


def test_failure_is_in_report_and_junit_with_app_and_kind(world: World) -> None:
    del world.fake.scripts["pickmyclass"]
    world.run("bindings")
    [failed] = [c for c in world.last_report["checks"] if c["outcome"] == "failed"]
    assert failed["kind"] == "bindings"
    assert failed["app"] == "pickmyclass"
    assert failed["resource"] == "Worker pickmyclass"
    tree = ET.parse(world.reports / "report-1.xml")
    [case] = [c for c in tree.iter("testcase") if c.find("failure") is not None]
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties == {"kind": "bindings", "app": "pickmyclass", "resource": "Worker pickmyclass"}
    assert "found no script named 'pickmyclass'" in (case.find("failure").get("message") or "")  # type: ignore[union-attr]


def test_keyword_selection_runs_only_matching_checks(world: World) -> None:
    world.run("tokens", keyword="runtime")
    checks = world.last_report["checks"]
    assert checks
    assert all("chatchonk-api-runtime" in c["name"] for c in checks)
    assert json.dumps(world.last_report["summary"]) == json.dumps(
        {"total": 4, "passed": 4, "failed": 0, "errors": 0, "skipped": 0}
    )
