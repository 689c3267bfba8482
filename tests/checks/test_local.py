"""`kvstack check --local` against `kvstack local up`: the healthy stack, then each planted defect, caught.

One local Cloudflare (API server + the reference apps on wrangler/Miniflare) for the module, in a temporary
copy of the project. Every defect is planted as a user's mistake would happen: through the official SDK
(renamed title, extra or missing Pages binding, tokens revoked, without expiry, for another account), the
API's admin routes (a Worker not deployed, faults), the outputs document (a token or app it lacks) or the
files the runtime runs (an app's source or .dev.vars, reloaded by wrangler), and reverted; the destructive
one (a deleted namespace) comes last. The fake Cloudflare (tests/fakecloudflare.py) is kept only for what
this one cannot produce.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from checks.resources import poll
from checks.runner import RunOutcome
from kvstack.local.apps import LOCAL_LOGIN_USER, LOCAL_WEBHOOK_SECRET, TRUSTED_CLIENT_HEADER, AppSpec
from kvstack.local.state import local_outputs_file, state_dir
from kvstack.local.views import deployed_view
from kvstack.permissions import account_resource, group_by_name
from kvstack.schemas import validator

from .conftest import SESSION
from .localstack import Local, coverage_of, every_token_check, failures_of, local, only_failure

pytestmark = [pytest.mark.runtime, pytest.mark.slow]
__all__ = ["local"]  # the module's one local Cloudflare, a fixture


def test_healthy_local_stack_passes_bindings_tokens_and_keyspaces(local: Local) -> None:
    outcome, report = local.run("bindings", "tokens", "keyspaces")
    assert failures_of(outcome) == {}
    assert report["target"] == "local"
    assert report["summary"]["skipped"] == 0
    assert report["skips"] == []
    validator("check-report").validate(report)
    # 4 apps, 6 bindings (each a namespace and its preview twin), 3 tokens: every one checked.
    assert coverage_of(report) == {
        "bindings": {"declared": 12 + 2 + 2 + 4 + 3, "checked": 23, "skipped": 0, "missing": 0, "not_run": 0},
        "tokens": {"declared": 3, "checked": 3, "skipped": 0, "missing": 0, "not_run": 0},
        "keyspaces": {"declared": 12, "checked": 12, "skipped": 0, "missing": 0, "not_run": 0},
    }
    assert outcome.exit_code == 0
    written = (local.root / "report.json").read_text() + (local.root / "report.xml").read_text()
    values = json.loads(local_outputs_file(local.root, "dev").read_text())["kvstack_token_values"]
    assert values
    assert [key for key, value in values.items() if value in written] == []


def test_healthy_local_stack_passes_every_flow(local: Local) -> None:
    outcome, report = local.run("flows", window=5.0)
    assert failures_of(outcome) == {}
    assert report["skips"] == []
    assert coverage_of(report) == {
        "flows": {"declared": 5, "checked": 5, "skipped": 0, "missing": 0, "not_run": 0},
    }
    assert outcome.exit_code == 0


def test_no_smoke_key_or_residue_remains_after_a_run(local: Local) -> None:
    webhook = local.ids("dubai-app-front", "WEBHOOK_KV")["id"]
    log_before = local.api.get_entry(webhook, "webhook:messages")
    outcome, report = local.run("flows", window=3.0)
    assert report["smoke"]["keys_written"] >= 7
    assert report["smoke"]["remaining"] == []
    assert report["smoke"]["residue"] == []
    assert local.smoke_keys_left() == []
    assert local.api.get_entry(webhook, "webhook:messages") == log_before, "the shared webhook log is untouched"
    assert outcome.exit_code == 0


def test_pages_binding_pointing_at_the_preview_id_is_caught(local: Local) -> None:
    ids = local.ids("dubai-app-front", "CHART_KV")
    local.bind_pages("production", "CHART_KV", {"namespace_id": ids["preview_id"]})
    try:
        outcome, _ = local.run("bindings")
    finally:
        local.bind_pages("production", "CHART_KV", {"namespace_id": ids["id"]})
    failures = failures_of(outcome)
    assert list(failures) == ["test_pages_deployment_binds_the_declared_ids[dubai-app-front production]"]
    assert f"found {ids['preview_id']} (dubai-app-front-dev-CHART_KV_preview)" in next(iter(failures.values()))


def test_token_with_an_extra_permission_is_caught(local: Local) -> None:
    [policy] = local.policies_of("chatchonk-api-runtime")
    scripts = group_by_name("Workers Scripts Write")
    assert scripts is not None
    policy["permission_groups"].append({"id": scripts.id})
    expires = local.document["tokens"]["chatchonk-api-runtime"]["expires_on"]
    with local.token_in_place_of("chatchonk-api-runtime", policies=[policy], expires_on=expires):
        outcome, _ = local.run("tokens")
    failures = failures_of(outcome)
    assert list(failures) == ["test_token_holds_exactly_the_declared_permissions[chatchonk-api-runtime]"]
    assert next(iter(failures.values())).endswith("— extra: Workers Scripts Write")


def test_token_about_to_expire_is_caught(local: Local) -> None:
    declared = local.document["tokens"]["audit"]
    details = local.api.get_token(declared["id"])
    assert details is not None
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5 * 86400))

    def expire(when: str) -> None:
        local.api.sdk.accounts.tokens.update(
            declared["id"],
            account_id=local.state.account_id,
            name=details["name"],
            policies=details["policies"],
            expires_on=when,
        )

    expire(soon)
    try:
        outcome, _ = local.run("tokens")
        with_margin_of_2_days, _ = local.run("tokens", expiry_days=2)
    finally:
        expire(details["expires_on"])
    failures = failures_of(outcome)
    assert list(failures) == ["test_token_expiry_is_far_enough[audit]"]
    assert "expected an expiry at least 14 days away" in failures["test_token_expiry_is_far_enough[audit]"]
    assert failures_of(with_margin_of_2_days) == {}


def test_bad_value_session_without_ttl_and_unknown_key_are_caught(local: Local) -> None:
    chart = local.ids("dubai-app-front", "CHART_KV")["id"]
    sessions = local.ids("codex", "AUTH_SESSION_KV")["id"]
    cache = local.ids("chatchonk-api", "CACHE_KV")["id"]
    bad_chart = json.dumps([{"id": "m1", "receivedAt": "t", "chart": {"type": 7}}])
    local.api.put_value(chart, "charts:session:planted", bad_chart, ttl=3600)
    local.api.put_value(sessions, "session:" + "d" * 64, json.dumps(SESSION))
    local.api.put_value(cache, "debug:planted", "x", ttl=600)
    try:
        outcome, _ = local.run("keyspaces")
    finally:
        local.api.delete_keys(chart, ["charts:session:planted"])
        local.api.delete_keys(sessions, ["session:" + "d" * 64])
        local.api.delete_keys(cache, ["debug:planted"])
    failures = failures_of(outcome)
    name = "test_namespace_holds_only_what_its_keyspace_allows[{}]"
    assert set(failures) == {
        name.format("dubai-app-front.CHART_KV"),
        name.format("codex.AUTH_SESSION_KV"),
        name.format("chatchonk-api.CACHE_KV"),
    }
    assert (
        "at /0/chart/type: expected type string; found 7 [JSON pointer /0/chart/type]"
        in failures[name.format("dubai-app-front.CHART_KV")]
    )
    assert "found a key that never expires" in failures[name.format("codex.AUTH_SESSION_KV")]
    assert "key 'debug:planted': expected a key matching one of" in failures[name.format("chatchonk-api.CACHE_KV")]


def test_placeholder_id_in_a_wrangler_file_is_caught(local: Local) -> None:
    path = state_dir(local.root) / "tree" / "apps" / "pickmyclass" / "wrangler.jsonc"
    original = path.read_text()
    path.write_text(original.replace(local.ids("pickmyclass", "KV")["id"], "PLACEHOLDER_KV_ID", 1))
    try:
        outcome, _ = local.run("bindings", keyword="wrangler_file")
    finally:
        path.write_text(original)
        local.wait_health("pickmyclass", 200)
    failures = failures_of(outcome)
    assert list(failures) == ["test_wrangler_file_matches_the_outputs[apps/pickmyclass/wrangler.jsonc]"]
    assert "is the placeholder 'PLACEHOLDER_KV_ID'" in next(iter(failures.values()))


def test_app_whose_kv_binding_is_missing_is_caught(local: Local) -> None:
    # codex deployed without CACHE_KV: its Worker settings, the file it runs (the deployed view, which
    # wrangler dev reloads) and its /health say so.

    workers = httpx.get(local.state.apps["codex"].rsplit("/", 1)[0] + "/__kvstack/apps").json()["apps"]
    script = workers["codex"]
    bindings = local.document["apps"]["codex"]["bindings"]
    full = [{"type": "kv_namespace", "name": b, "namespace_id": ids["id"]} for b, ids in bindings.items()]
    path = state_dir(local.root) / "tree" / "apps" / "codex" / "wrangler.toml"
    original = path.read_text()
    without, dropped = re.subn(
        r'\[\[env\.staging\.kv_namespaces\]\]\s*\nbinding = "CACHE_KV"\s*\n(?:[a-z_]+ = "[^"]*"\s*\n)+', "", original
    )
    assert dropped == 1
    local.admin("PUT", f"/__kvstack/scripts/{script}", {"bindings": [b for b in full if b["name"] != "CACHE_KV"]})
    spec = AppSpec(name="codex", config=path, section="env.staging")
    path.write_text(without)
    deployed_view(spec)  # what the runtime runs: the rendered file's deployed view
    try:
        local.wait_health("codex", 503)
        outcome, _ = local.run("bindings", "flows", keyword="codex", window=3.0)
    finally:
        local.admin("PUT", f"/__kvstack/scripts/{script}", {"bindings": full})
        path.write_text(original)
        deployed_view(spec)
        local.wait_health("codex", 200)
    failures = failures_of(outcome)
    worker = "test_worker_settings_list_the_declared_bindings[codex env.staging]"
    health = "test_app_reports_its_bindings_available[codex]"
    wrangler_file = "test_wrangler_file_matches_the_outputs[apps/codex/wrangler.toml]"
    assert set(failures) == {worker, health, wrangler_file, "test_read_through_cache[codex]"}
    assert "CACHE_KV not available" in failures["test_read_through_cache[codex]"]
    assert "missing-binding" in failures[wrangler_file]
    assert (
        "expected HTTP 200 with every required binding available; found HTTP 503, missing bindings CACHE_KV"
        in (failures[health])
    )
    assert (
        f"CACHE_KV: expected {bindings['CACHE_KV']['id']} (codex-dev-CACHE_KV); found no such KV binding"
        in (failures[worker])
    )


def test_token_missing_from_the_outputs_fails_naming_it(local: Local) -> None:
    def drop_audit(document: dict[str, Any]) -> None:
        del document["kvstack"]["tokens"]["audit"]
        del document["kvstack_token_values"]["audit"]

    with local.outputs_edited(drop_audit):
        outcome, report = local.run("tokens")
    failures = failures_of(outcome)
    assert set(failures) == every_token_check("audit")
    assert all(
        message.startswith("audit: expected token audit (kvstack-dev-audit) in the outputs document")
        for message in failures.values()
    )
    assert coverage_of(report)["tokens"] == {"declared": 3, "checked": 2, "skipped": 0, "missing": 1, "not_run": 0}
    assert outcome.exit_code == 1


def test_app_missing_from_the_outputs_fails_naming_it(local: Local) -> None:
    def drop_codex(document: dict[str, Any]) -> None:
        del document["kvstack"]["apps"]["codex"]

    with local.outputs_edited(drop_codex):
        outcome, report = local.run("bindings", "keyspaces", "flows", window=3.0)
    failures = failures_of(outcome)
    missing = {name for name, message in failures.items() if "in the outputs document" in message}
    assert {
        "test_namespace_exists_with_its_title[codex.CACHE_KV (preview)]",
        "test_worker_settings_list_the_declared_bindings[codex env.staging]",
        "test_namespace_holds_only_what_its_keyspace_allows[codex.AUTH_SESSION_KV]",
        "test_session_login_cache_and_logout[codex]",
        "test_read_through_cache[codex]",
    } <= missing
    assert all("codex" in name for name in failures), failures
    coverage = coverage_of(report)
    assert coverage["bindings"]["missing"] == 4 + 1  # its 2 bindings' namespaces and twins, its Worker
    assert coverage["keyspaces"]["missing"] == 4
    assert coverage["flows"]["missing"] == 2
    assert outcome.exit_code == 1


def test_token_that_never_expires_is_caught(local: Local) -> None:
    with local.token_in_place_of("audit", policies=local.policies_of("audit")):
        outcome, _ = local.run("tokens")
    failures = failures_of(outcome)
    assert list(failures) == ["test_token_expiry_is_far_enough[audit]"]
    assert "found a token that never expires" in failures["test_token_expiry_is_far_enough[audit]"]


def test_token_that_never_expires_passes_when_the_catalog_says_it_may_not(local: Local) -> None:
    project = local.root / "Pulumi.yaml"
    original = project.read_text()
    declared = original.replace("role: audit\n", "role: audit\n          expires: never\n", 1)
    assert declared != original
    project.write_text(declared)
    try:
        with local.token_in_place_of("audit", policies=local.policies_of("audit")):
            outcome, _ = local.run("tokens")
    finally:
        project.write_text(original)
    assert failures_of(outcome) == {}
    assert outcome.exit_code == 0


def test_revoked_token_is_caught(local: Local) -> None:
    expires = local.document["tokens"]["deploy"]["expires_on"]
    with local.token_in_place_of("deploy", policies=local.policies_of("deploy"), expires_on=expires) as token_id:
        local.api.sdk.accounts.tokens.delete(token_id, account_id=local.account_id)
        outcome, _ = local.run("tokens")
    failures = failures_of(outcome)
    assert set(failures) == every_token_check("deploy")
    assert "found 'rejected: HTTP 401" in failures["test_token_verifies_as_active[deploy]"]
    assert f"found no token with id {token_id}" in failures["test_token_holds_exactly_the_declared_permissions[deploy]"]
    assert outcome.exit_code == 1


def test_token_for_another_account_is_caught(local: Local) -> None:
    other = "f" * 32
    expires = local.document["tokens"]["audit"]["expires_on"]
    with local.token_in_place_of("audit", policies=local.policies_of("audit", account=other), expires_on=expires):
        outcome, _ = local.run("tokens")
    failures = failures_of(outcome)
    assert "test_token_is_scoped_to_this_account_only[audit]" in failures
    assert f"found ['{account_resource(other)}']" in failures["test_token_is_scoped_to_this_account_only[audit]"]
    assert outcome.exit_code == 1


def test_renamed_namespace_is_caught(local: Local) -> None:
    ids = local.ids("codex", "CACHE_KV")

    def rename(title: str) -> None:
        local.api.sdk.kv.namespaces.with_raw_response.update(
            ids["preview_id"], account_id=local.account_id, title=title
        )

    rename("codex-CACHE_KV-preview")
    try:
        outcome, _ = local.run("bindings", keyword="namespace_exists")
    finally:
        rename(ids["preview_title"])
    failures = failures_of(outcome)
    assert list(failures) == ["test_namespace_exists_with_its_title[codex.CACHE_KV (preview)]"]
    assert "expected title 'codex-dev-CACHE_KV_preview'; found 'codex-CACHE_KV-preview'" in next(
        iter(failures.values())
    )


def test_extra_pages_binding_is_caught(local: Local) -> None:
    stray = local.ids("pickmyclass", "KV")["id"]
    local.bind_pages("preview", "OTHER_KV", {"namespace_id": stray})
    try:
        outcome, _ = local.run("bindings", keyword="pages_deployment")
    finally:
        local.bind_pages("preview", "OTHER_KV", None)
    failures = failures_of(outcome)
    assert list(failures) == ["test_pages_deployment_binds_the_declared_ids[dubai-app-front preview]"]
    assert f"OTHER_KV: expected no such KV binding; found one bound to {stray} (pickmyclass-dev-KV)" in next(
        iter(failures.values())
    )


def test_missing_optional_pages_binding_warns_without_failing(local: Local) -> None:
    webhook = local.ids("dubai-app-front", "WEBHOOK_KV")["id"]
    local.bind_pages("production", "WEBHOOK_KV", None)
    try:
        outcome, _ = local.run("bindings", keyword="pages_deployment")
    finally:
        local.bind_pages("production", "WEBHOOK_KV", {"namespace_id": webhook})
    assert failures_of(outcome) == {}
    [result] = [r for r in outcome.results.ordered() if r.warnings]
    assert result.name == "test_pages_deployment_binds_the_declared_ids[dubai-app-front production]"
    assert f"WEBHOOK_KV: expected {webhook}" in result.warnings[0]
    assert "found no such KV binding (optional)" in result.warnings[0]


def test_token_also_scoped_to_another_account_is_caught(local: Local) -> None:
    [policy] = local.policies_of("audit")
    policy["resources"][account_resource("f" * 32)] = "*"
    expires = local.document["tokens"]["audit"]["expires_on"]
    with local.token_in_place_of("audit", policies=[policy], expires_on=expires):
        outcome, _ = local.run("tokens")
    assert list(failures_of(outcome)) == ["test_token_is_scoped_to_this_account_only[audit]"]


def test_ttl_beyond_the_maximum_and_bad_placeholder_are_caught(local: Local) -> None:
    state = local.ids("pickmyclass", "KV")["id"]
    value = json.dumps({"class_nbr": 7, "status": "open", "seats_available": 1, "fetched_at": "t"})
    local.api.put_value(state, "class_state:7", value, ttl=30 * 86400)
    local.api.put_value(state, "class_state:seven", value, ttl=60)
    try:
        outcome, _ = local.run("keyspaces", keyword="pickmyclass")
    finally:
        local.api.delete_keys(state, ["class_state:7", "class_state:seven"])
    failures = failures_of(outcome)
    [message] = failures.values()
    assert list(failures) == ["test_namespace_holds_only_what_its_keyspace_allows[pickmyclass.KV]"]
    assert "found 1 bad-placeholder, 1 ttl-too-long" in message
    assert "placeholder {class_nbr:int} is 'seven', not a non-negative decimal integer" in message


def test_worker_not_deployed_is_caught_in_process_and_on_the_command_line(local: Local) -> None:
    workers = httpx.get(local.state.apps["pickmyclass"].rsplit("/", 1)[0] + "/__kvstack/apps").json()["apps"]
    script = workers["pickmyclass"]
    bindings = [
        {"type": "kv_namespace", "name": "KV", "namespace_id": local.ids("pickmyclass", "KV")["id"]},
    ]
    junit = local.root / "cli.xml"
    local.admin("DELETE", f"/__kvstack/scripts/{script}")
    try:
        outcome, report = local.run("bindings", keyword="worker_settings")
        cli = local.command(
            "kvstack", "check", "--stack", "dev", "--root", str(local.root), "--local", "--only", "bindings",
            "-k", "worker_settings", "--junit", str(junit),
        )  # fmt: skip
    finally:
        local.admin("PUT", f"/__kvstack/scripts/{script}", {"bindings": bindings})
    name = "test_worker_settings_list_the_declared_bindings[pickmyclass top]"
    assert f"expected a deployed Worker; found no script named '{script}'" in only_failure(outcome, name)
    [failed] = [c for c in report["checks"] if c["outcome"] == "failed"]
    where = {"kind": "bindings", "app": "pickmyclass", "resource": f"Worker {script}"}
    assert {key: failed[key] for key in where} == where
    [case] = [c for c in ET.parse(local.root / "report.xml").iter("testcase") if c.find("failure") is not None]
    assert {p.get("name"): p.get("value") for p in case.iter("property")} == where
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert f"✗ bindings {name}" in cli.stdout
    assert f"found no script named '{script}'" in cli.stdout
    assert junit.is_file()


def test_pytest_with_the_plugin_alone_catches_a_missing_pages_binding(local: Local) -> None:
    ids = local.ids("dubai-app-front", "CHART_KV")
    report = local.root / "plugin.json"
    local.bind_pages("preview", "CHART_KV", None)
    try:
        result = local.command(
            "pytest", "checks", "-p", "no:cacheprovider", "-p", "no:xdist", "--kvstack-stack=dev",
            f"--kvstack-root={local.root}", "--kvstack-local", "--kvstack-only=bindings", "-k", "pages_deployment",
            f"--kvstack-json={report}",
        )  # fmt: skip
    finally:
        local.bind_pages("preview", "CHART_KV", {"namespace_id": ids["preview_id"]})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED checks/bindings.py::test_pages_deployment_binds_the_declared_ids[dubai-app-front preview]" in (
        result.stdout
    )
    data = json.loads(report.read_text())
    assert data["summary"]["failed"] == 1
    assert {c["kind"] for c in data["checks"]} == {"bindings"}


def test_keyword_selection_runs_only_matching_checks(local: Local) -> None:
    outcome, report = local.run("tokens", keyword="runtime")
    assert report["checks"]
    assert all("chatchonk-api-runtime" in c["name"] for c in report["checks"])
    assert report["summary"] == {"total": 4, "passed": 4, "failed": 0, "errors": 0, "skipped": 0}
    assert outcome.exit_code == 0


def test_flow_whose_secret_is_missing_fails_the_run_unless_allowed(local: Local) -> None:
    dev_vars = local.app_file("dubai-app-front", ".dev.vars")
    original = dev_vars.read_text()
    dev_vars.write_text("".join(line for line in original.splitlines(True) if not line.startswith("WEBHOOK_SECRET")))
    try:
        refused, report = local.run("flows", keyword="chart")
        allowed, allowed_report = local.run("flows", keyword="chart", allow_skip=("flows",))
    finally:
        dev_vars.write_text(original)
        local.wait_config("dubai-app-front", "WEBHOOK_SECRET")
    assert failures_of(refused) == {}
    [skip] = report["skips"]
    assert skip["kind"] == "flows"
    assert skip["id"].endswith("test_chart_webhook_reaches_the_stream_and_kv[dubai-app-front]")
    assert "no webhook secret" in skip["reason"]
    assert skip["allowed"] is False
    assert refused.exit_code == 1
    assert report["exit_code"] == 1
    assert allowed_report["skips"][0]["allowed"] is True
    assert allowed.exit_code == 0


@contextmanager
def _app_source_changed(local: Local, app: str, old: str, new: str, reloaded: Callable[[], bool]) -> Iterator[None]:
    """The app's worker.js with ``old`` replaced by ``new`` (a user's bug), until ``reloaded()`` sees it run."""
    source = local.app_file(app, "worker.js")
    original = source.read_text()
    assert old in original
    source.write_text(original.replace(old, new))

    def runs(changed: bool) -> bool:
        try:
            return reloaded() is changed
        except (httpx.HTTPError, ValueError, KeyError, AssertionError, StopIteration):  # wrangler is reloading it
            return False

    try:
        poll(f"{app} running its changed worker.js", lambda: runs(True), bool, window=90)
        yield
    finally:
        source.write_text(original)
        poll(f"{app} running its own worker.js again", lambda: runs(False), bool, window=90)


def _cache_ttl_answered(local: Local, asked: int) -> int:
    probe = f"probe-{time.monotonic_ns()}"
    with httpx.Client(base_url=local.state.apps["codex"], timeout=10) as http:
        answer = http.get(f"/api/cache/kvstack-smoke/{probe}", params={"ttl": str(asked)})
        http.delete(f"/api/cache/kvstack-smoke/{probe}")
    return int(answer.json()["ttl"])


def test_cache_keeping_data_longer_than_asked_is_caught(local: Local) -> None:
    with _app_source_changed(
        local, "codex", ": Number(ttlParam);", ": Number(ttlParam) * 5;", lambda: _cache_ttl_answered(local, 60) == 300
    ):
        outcome, _ = local.run("flows", keyword="read_through_cache", window=5.0)
    failures = failures_of(outcome)
    assert list(failures) == ["test_read_through_cache[codex]"]
    assert "expected the TTL asked for, 60 s" in failures["test_read_through_cache[codex]"]
    assert (
        "found 300 s" in failures["test_read_through_cache[codex]"]
        or "found 29" in (failures["test_read_through_cache[codex]"])
    )


def _webhook_log(local: Local) -> str | None:
    entry = local.api.get_entry(local.ids("dubai-app-front", "WEBHOOK_KV")["id"], "webhook:messages")
    return None if entry is None else entry.value


def _post_chart(local: Local, session: str) -> None:
    body = json.dumps({"sessionId": session, "chart": {"type": "line"}})
    signature = hmac.new(LOCAL_WEBHOOK_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    httpx.post(
        local.state.apps["dubai-app-front"] + "/api/webhook",
        content=body,
        headers={"content-type": "application/json", "x-webhook-signature": f"sha256={signature}"},
        timeout=10,
    ).raise_for_status()


def _logs_smoke_deliveries(local: Local) -> bool:
    session = f"kvstack-smoke-probe{time.monotonic_ns()}"
    _post_chart(local, session)
    local.api.delete_keys(local.ids("dubai-app-front", "CHART_KV")["id"], [f"charts:session:{session}"])
    return session in (_webhook_log(local) or "")


def test_smoke_data_copied_into_a_shared_key_is_caught(local: Local) -> None:
    webhook = local.ids("dubai-app-front", "WEBHOOK_KV")["id"]
    log = _webhook_log(local)
    try:
        with _app_source_changed(
            local,
            "dubai-app-front",
            "&& !sessionId.startsWith(SMOKE_PREFIX)",
            "",
            lambda: _logs_smoke_deliveries(local),
        ):
            outcome, report = local.run("flows", keyword="chart", window=5.0)
    finally:
        if log is None:
            local.api.delete_keys(webhook, ["webhook:messages"])
        else:
            local.api.put_value(webhook, "webhook:messages", log)
    assert failures_of(outcome) == {}
    [residue] = report["smoke"]["residue"]
    assert residue.startswith("dubai-app-front.WEBHOOK_KV: key 'webhook:messages' of dubai-app-front-dev-WEBHOOK_KV ")
    assert f"holds smoke data of run {report['smoke']['run_id']}" in residue
    assert report["smoke"]["remaining"] == []
    assert outcome.exit_code == 1


def _pushes_charts(local: Local) -> bool:
    """Does a stream opened on a smoke session push the chart posted after its snapshot?"""
    session = f"kvstack-smoke-probe{time.monotonic_ns()}"
    try:
        with (
            httpx.Client(base_url=local.state.apps["dubai-app-front"], timeout=15) as http,
            connect_sse(http, "GET", "/api/stream", params={"sessionId": session, "timeout": "2"}) as source,
        ):
            events = source.iter_sse()
            assert next(events).event == "snapshot"
            _post_chart(local, session)
            kinds = [event.event for event in events]
    finally:  # a probe cut short by wrangler's reload must not leave its key behind as smoke residue
        local.api.delete_keys(local.ids("dubai-app-front", "CHART_KV")["id"], [f"charts:session:{session}"])
    return "chart" in kinds


def test_chart_app_that_stores_but_never_pushes_is_caught(local: Local) -> None:
    push = 'await writer.write(sseFrame("chart", message, message.id));'
    with _app_source_changed(local, "dubai-app-front", push, "", lambda: not _pushes_charts(local)):
        outcome, report = local.run("flows", keyword="chart", window=3.0)
    message = only_failure(outcome, "test_chart_webhook_reaches_the_stream_and_kv[dubai-app-front]")
    assert "the SSE stream of session kvstack-smoke-" in message
    assert "expected it within 3 s; found only the events ['snapshot']" in message
    assert report["smoke"]["remaining"] == []
    assert local.smoke_keys_left() == []


def _login_attempts_left(local: Local) -> int:
    """attempts_left of one failed login from a fresh smoke client (4 when the app allows 5)."""
    client = f"kvstack-smoke-probe{time.monotonic_ns()}"
    answer = httpx.post(
        local.state.apps["codex"] + "/api/login",
        json={"username": LOCAL_LOGIN_USER, "password": "kvstack-smoke-wrong-password"},
        headers={TRUSTED_CLIENT_HEADER: client},
        timeout=10,
    )
    local.api.delete_keys(local.ids("codex", "AUTH_SESSION_KV")["id"], [f"rl:login:{client}"])
    return int(answer.json()["attempts_left"])


def test_app_without_a_login_rate_limit_is_caught(local: Local) -> None:
    with _app_source_changed(
        local, "codex", "const RL_LIMIT = 5;", "const RL_LIMIT = 1000;", lambda: _login_attempts_left(local) > 4
    ):
        outcome, _ = local.run("flows", keyword="rate_limit", window=3.0)
    message = only_failure(outcome, "test_login_rate_limit[codex]")
    assert "the 6th failed login from one client answering 429: not seen within 3 s" in message
    assert "HTTP 401" in message


def test_verdicts_under_api_faults_equal_the_fault_free_run(local: Local) -> None:
    sessions = local.ids("codex", "AUTH_SESSION_KV")["id"]
    local.api.put_value(sessions, "session:" + "e" * 64, json.dumps(SESSION))  # a finding, so failures compare too
    try:
        baseline, _ = local.run("bindings", "tokens", "keyspaces")
        expected = _verdicts(baseline)
        assert [name for name, (outcome, _) in expected.items() if outcome == "failed"] == [
            "checks/keyspaces.py::test_namespace_holds_only_what_its_keyspace_allows[codex.AUTH_SESSION_KV]"
        ]
        for seed in (1, 2):
            local.admin("PUT", "/__kvstack/knobs", {"faults": "429=0.1,500=0.05,drop=0.02", "seed": seed})
            try:
                faulty, report = local.run("bindings", "tokens", "keyspaces")
            finally:
                local.admin("PUT", "/__kvstack/knobs", {"faults": ""})
            assert _verdicts(faulty) == expected, f"faults seeded {seed} changed the verdicts"
            spent = report["spent"]
            assert spent["rate_limited"] + spent["server_errors"] + spent["connection_errors"] > 0
            assert spent["retries"] > 0
    finally:
        local.api.delete_keys(sessions, ["session:" + "e" * 64])


def _verdicts(outcome: RunOutcome) -> dict[str, tuple[str, str | None]]:
    return {r.nodeid: (r.outcome, r.message) for r in outcome.results.ordered()}


def test_deleted_namespace_is_caught(local: Local) -> None:
    ids = local.ids("pickmyclass", "KV")
    local.api.sdk.kv.namespaces.delete(ids["id"], account_id=local.state.account_id)
    outcome, _ = local.run("bindings", "keyspaces")
    failures = failures_of(outcome)
    assert set(failures) == {
        "test_namespace_exists_with_its_title[pickmyclass.KV]",
        "test_namespace_holds_only_what_its_keyspace_allows[pickmyclass.KV]",
    }
    assert (
        "expected it to exist with title 'pickmyclass-dev-KV'; found no namespace with this id"
        in failures["test_namespace_exists_with_its_title[pickmyclass.KV]"]
    )
    assert (
        "expected it to exist to scan it; found none"
        in (failures["test_namespace_holds_only_what_its_keyspace_allows[pickmyclass.KV]"])
    )
    assert outcome.exit_code == 1
