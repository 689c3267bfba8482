"""`kvstack audit --local` against a real `kvstack local up`: the healthy stack, then defects a user would cause.

One local Cloudflare (API server + the reference apps on wrangler/Miniflare) for the module, in a temporary copy
of the project. Defects are planted through the official SDK (with the local bootstrap token, as a user with
dashboard rights would), the rendered wrangler file (a hand edit) and the REST app's own token; the audit always
runs with the stack's read-only `audit` token.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kvstack.local.state import state_dir
from tests.audit.localstack import ROOT, Local, local_up
from tests.needs import need

pytestmark = [pytest.mark.runtime, pytest.mark.slow]
SESSION = {"user": "u1", "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T01:00:00Z"}
FAULTS = "429=0.1,500=0.05,drop=0.02"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    with local_up(tmp_path_factory.mktemp("audit") / "project") as running:
        yield running


def _kinds(report: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in report["findings"]:
        found.setdefault(finding["kind"], []).append(finding["subject"])
    return found


def _classes(report: dict[str, Any]) -> dict[str, str]:
    return {n["title"]: n["classification"] for n in report["namespaces"]}


def test_healthy_local_stack_has_every_namespace_managed_and_nothing_at_error(local: Local) -> None:
    report = local.audit()
    classes = _classes(report)
    assert set(classes.values()) == {"managed"}, classes
    assert len(classes) == 2 * sum(len(a["bindings"]) for a in local.document["apps"].values())
    assert report["exit_code"] == 0
    assert report["summary"]["findings"]["error"] == 0
    assert report["target"] == "local"
    assert report["usage"]["pricing"]["read_on"]


def test_all_stacks_says_a_stack_of_another_account_is_not_audited(local: Local) -> None:
    report = local.audit(all_stacks=True)
    assert report["stacks"] == ["dev"]
    (unaudited,) = (f for f in report["findings"] if f["kind"] == "stack-unaudited")
    assert unaudited["subject"] == "stack prod"
    assert "lives in account fedcba9876543210fedcba9876543210" in unaudited["message"]
    assert "--stack prod" in unaudited["message"]
    assert not [f for f in report["findings"] if f["kind"] == "missing"]


def test_cli_exit_code_follows_fail_on_and_writes_the_reports(local: Local) -> None:
    json_path, html_path = local.root / "reports" / "audit.json", local.root / "reports" / "audit.html"
    passed = local.cli("--fail-on", "warning", "--json", str(json_path), "--html", str(html_path))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "namespaces" in passed.stdout
    assert "spent" in passed.stdout
    assert json.loads(json_path.read_text())["exit_code"] == 0
    assert html_path.read_text().startswith("<!doctype html>")
    # The healthy stack's namespaces are empty and untouched: info findings, which --fail-on info counts.
    failed = local.cli("--fail-on", "info")
    assert failed.returncode == 1
    usage = local.cli("--fail-on", "fatal")
    assert usage.returncode == 2
    assert "--fail-on" in usage.stderr
    for value in local.token_values.values():
        assert value not in passed.stdout + passed.stderr + json_path.read_text() + html_path.read_text()


def test_audit_issues_no_write_with_its_read_only_token(local: Local) -> None:
    tokens = local.document["tokens"]
    audit_token = next(t for t in tokens.values() if t["role"] == "audit")
    before = local.admin("GET", "/__kvstack/requests")["result_info"]["total_count"]
    local.audit()
    entries = [
        e
        for e in local.admin("GET", f"/__kvstack/requests?since={before}")["result"]
        if not e["path"].startswith("/__kvstack/")
    ]
    mine = [e for e in entries if e["token"] == audit_token["id"]]
    assert mine, "the audit made no request with the audit token"
    # Every other token of the stack only verified itself (GET …/tokens/verify), once.
    others = [(e["token"], e["method"], e["path"].rsplit("/", 2)[-2:]) for e in entries if e not in mine]
    assert sorted(others) == sorted(
        (t["id"], "GET", ["tokens", "verify"]) for t in tokens.values() if t["id"] != audit_token["id"]
    )
    reads = {"GET"}
    writes = [
        e for e in mine if e["method"] not in reads and not e["path"].endswith(("/bulk/get", "/client/v4/graphql"))
    ]
    assert writes == []


def _plant_defects(local: Local) -> dict[str, str]:
    """Every defect of the issue's list, each the way a user would cause it. Returns ids by name."""
    sdk = local.sdk()
    account = local.state.account_id
    adoptable = sdk.kv.namespaces.create(account_id=account, title="chatchonk-api-prod-CACHE_KV")
    foreign = sdk.kv.namespaces.create(account_id=account, title="team scratchpad")
    deleted = local.ids("codex", "CACHE_KV")["id"]
    # Raw responses: the local API answers delete, rename and value writes with `result: null`, which the
    # strict SDK refuses (a fidelity gap of the local API, reported to its owner); the calls are the SDK's.
    sdk.kv.namespaces.with_raw_response.delete(deleted, account_id=account)
    retitled = local.ids("pickmyclass", "KV")["preview_id"]
    sdk.kv.namespaces.with_raw_response.update(retitled, account_id=account, title="pickmyclass-dev-KV-old")
    twin = local.ids("dubai-app-front", "WEBHOOK_KV")["preview_id"]
    sdk.kv.namespaces.with_raw_response.delete(twin, account_id=account)
    # A hand edit of the wrangler file the runtime renders from: an id that exists nowhere.
    wrangler = state_dir(local.root) / "tree" / "apps" / "dubai-app-front" / "wrangler.toml"
    chart = local.ids("dubai-app-front", "CHART_KV")["id"]
    wrangler.write_text(wrangler.read_text().replace(chart, "0badc0de" * 4, 1))
    # Keys a buggy deploy wrote: a session without its required TTL, and a key of no pattern.
    sessions = local.ids("codex", "AUTH_SESSION_KV")["id"]
    sdk.kv.namespaces.values.with_raw_response.update(
        "session:" + "ab" * 32, account_id=account, namespace_id=sessions, value=json.dumps(SESSION).encode()
    )
    sdk.kv.namespaces.values.with_raw_response.update(
        "stray:key", account_id=account, namespace_id=sessions, value=b"x"
    )
    return {
        "adoptable": str(adoptable.id),
        "foreign": str(foreign.id),
        "deleted": deleted,
        "retitled": retitled,
        "twin": twin,
        "sessions": sessions,
    }


def _drive_writes_over_the_free_tier(local: Local) -> None:
    """The REST app (chatchonk-api) caches 1,200 model lists with its own runtime token, today; the days
    before are backfilled through the documented test route, rising towards the limit."""
    value = local.token_values[next(k for k, t in local.document["tokens"].items() if t["role"] == "runtime")]
    cache = local.ids("chatchonk-api", "CACHE_KV")["id"]
    items = [{"key": f"models:p{i}", "value": '[{"id": "m"}]', "expiration_ttl": 300} for i in range(1200)]
    answer = httpx.put(
        f"{local.state.api_url}/client/v4/accounts/{local.state.account_id}/storage/kv/namespaces/{cache}/bulk",
        json=items,
        headers={"authorization": f"Bearer {value}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    today = datetime.now(UTC).date()
    past = [
        {"namespaceId": cache, "actionType": "write", "requests": 150 * (7 - d), "date": str(today - timedelta(d))}
        for d in range(1, 7)
    ]
    local.admin("PUT", "/__kvstack/usage/backfill", {"operations": past})


@pytest.fixture(scope="module")
def planted(local: Local) -> dict[str, str]:
    ids = _plant_defects(local)
    _drive_writes_over_the_free_tier(local)
    return ids


def test_planted_defects_are_each_found(local: Local, planted: dict[str, str]) -> None:
    report = local.audit()
    classes = _classes(report)
    kinds = _kinds(report)
    assert classes["chatchonk-api-prod-CACHE_KV"] == "adoptable"
    assert classes["team scratchpad"] == "foreign"
    assert classes["codex-dev-CACHE_KV"] == "missing"
    assert classes["pickmyclass-dev-KV-old"] == "retitled"
    assert classes["dubai-app-front-dev-WEBHOOK_KV_preview"] == "missing"
    assert "chatchonk-api-prod-CACHE_KV" in kinds["orphan-twin"]
    assert "codex-dev-CACHE_KV_preview" in kinds["orphan-twin"]
    assert "dubai-app-front-dev-WEBHOOK_KV" in kinds["orphan-twin"]
    dangling = kinds["dangling-binding"]
    assert any(s.startswith("apps/dubai-app-front/wrangler.toml") and "CHART_KV" in s for s in dangling), dangling
    assert any("codex" in s and "CACHE_KV" in s for s in dangling), dangling  # the Worker script's binding
    sessions = next(n for n in report["namespaces"] if n["id"] == planted["sessions"])["statistics"]
    assert sessions["unknown_keys"] == 1
    assert sessions["unknown_examples"] == ["stray:key"]
    assert sessions["violations"] == {"missing-ttl": 1}
    assert sessions["ttl"]["none"] == 2
    violation = next(f for f in report["findings"] if f["kind"] == "keyspace-violation")
    assert violation["details"]["rule"] == "missing-ttl"
    assert report["exit_code"] == 1


def test_usage_forecast_crosses_the_free_tier_for_writes(local: Local, planted: dict[str, str]) -> None:
    report = local.audit()
    cache = local.ids("chatchonk-api", "CACHE_KV")["id"]
    writes = report["usage"]["operations"][cache]["write"]
    assert writes[-1] >= 1200  # today's real writes through the API, counted per key
    assert writes[:6] == [150, 300, 450, 600, 750, 900]  # the backfilled days, oldest first
    forecast = report["usage"]["forecast"]["write"]
    assert forecast["crosses_free_tier_in_days"] == 0
    assert "writes are already at or over the free tier's 1,000/day" in report["summary"]["forecast"]
    assert "account writes" in _kinds(report)["free-tier-forecast"]
    assert report["summary"]["projected_monthly_cost_usd"] >= 5.0
    stats = next(n for n in report["namespaces"] if n["id"] == cache)["statistics"]
    assert stats["keys"] == 1200
    assert stats["values_read"] == 100  # the default sample, 100 keys in one bulk get
    assert stats["value_bytes"]["estimated"] is True


def test_import_file_lists_the_adoptable_namespace_and_the_prod_adopt_lines(
    local: Local, planted: dict[str, str]
) -> None:
    path = local.root / "import.json"
    run = local.cli("--import-file", str(path))
    assert run.returncode == 1, run.stderr
    document = json.loads(path.read_text())
    assert document == {
        "resources": [
            {
                "type": "cloudflare:index/workersKvNamespace:WorkersKvNamespace",
                "name": "chatchonk-api-CACHE_KV",
                "id": f"{local.state.account_id}/{planted['adoptable']}",
            }
        ]
    }
    assert "to adopt into stack prod, add to Pulumi.prod.yaml:" in run.stdout
    assert f"          id: {planted['adoptable']}" in run.stdout


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on faults: the inventory, the findings and the statistics (not usage or spend)."""
    usage_kinds = {"free-tier-forecast", "unexplained-operations", "empty"}
    return {
        "namespaces": [{k: v for k, v in n.items() if k != "operations"} for n in report["namespaces"]],
        "findings": [f for f in report["findings"] if f["kind"] not in usage_kinds],
        "adoption": report["adoption"],
    }


def test_results_are_identical_under_seeded_faults(local: Local, planted: dict[str, str]) -> None:
    baseline = _stable(local.audit())
    retries = 0
    try:
        for seed in range(1, 6):
            local.admin("PUT", "/__kvstack/knobs", {"faults": FAULTS, "seed": seed})
            report = local.audit()
            retries += report["spent"]["retries"]
            assert _stable(report) == baseline, f"seed {seed}"
    finally:
        local.admin("PUT", "/__kvstack/knobs", {"faults": "", "seed": 0})
    assert retries > 0, "the fault knobs never fired: the runs proved nothing"


def _chromium() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None
    return shutil.which("chromium")


def test_html_report_loads_in_headless_chromium_with_data_in_every_chart(local: Local, planted: dict[str, str]) -> None:
    browser_path = _chromium()
    need(
        browser_path is not None,
        "headless Chromium (Debian `chromium`) with the playwright package",
        "apt-get install chromium; pip install -e '.[dev]'",
    )
    from playwright.sync_api import sync_playwright

    html = local.root / "reports" / "audit-planted.html"
    run = local.cli("--html", str(html))
    assert run.returncode == 1, run.stderr
    screenshot = ROOT / "reports" / "audit-report.png"
    screenshot.parent.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "request",
                lambda request: (
                    problems.append(f"fetched {request.url}") if not request.url.startswith("file:") else None
                ),
            )
            page.goto(html.as_uri())
            charts = page.locator("svg.chart")
            assert charts.count() >= 6  # four actions, storage, at least one keyspace
            for index in range(charts.count()):
                chart = charts.nth(index)
                assert chart.locator(".point").count() > 0, chart.get_attribute("id")
            assert page.locator("#chart-write .free-tier").count() == 1
            assert page.locator("#chart-write .forecast").count() == 1
            assert "writes are already at or over" in page.inner_text("#summary + .cards + ul")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert screenshot.stat().st_size > 10_000


def _app_operations(local: Local, namespace_id: str) -> dict[str, int]:
    """Today's operations on one namespace, from the local GraphQL Analytics endpoint."""
    today = datetime.now(UTC).date().isoformat()
    query = """query($a: string!, $d: Date!, $n: string!) { viewer { accounts(filter: {accountTag: $a}) {
      kvOperationsAdaptiveGroups(filter: {date: $d, namespaceId: $n}, limit: 10) {
        sum { requests } dimensions { actionType } } } } }"""
    answer = httpx.post(
        f"{local.state.api_url}/client/v4/graphql",
        json={"query": query, "variables": {"a": local.state.account_id, "d": today, "n": namespace_id}},
        headers={"authorization": f"Bearer {local.token}"},
        timeout=60,
    ).json()
    groups = answer["data"]["viewer"]["accounts"][0]["kvOperationsAdaptiveGroups"]
    return {g["dimensions"]["actionType"]: g["sum"]["requests"] for g in groups}


def test_operations_the_apps_make_in_the_runtime_are_counted(local: Local) -> None:
    namespace = local.ids("pickmyclass", "KV")["id"]
    before = _app_operations(local, namespace)
    for number in ("90001", "90002", "90003"):
        answer = httpx.get(f"{local.state.apps['pickmyclass']}/api/classes/{number}", timeout=30)
        assert answer.status_code == 200, answer.text
    again = httpx.get(f"{local.state.apps['pickmyclass']}/api/classes/90001", timeout=30)
    assert again.status_code == 200
    # cache-aside: three misses (read, then write) and one hit (read). The counter's records are written
    # while each request ends (waitUntil), so they may land just after the answer: poll for them.
    expected = {"read": before.get("read", 0) + 4, "write": before.get("write", 0) + 3}
    deadline = time.monotonic() + 30
    while True:
        after = _app_operations(local, namespace)
        seen = {action: after.get(action, 0) for action in expected}
        if seen == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen == expected
