"""A user's own apps in `kvstack local up`, through the real CLI and real wrangler (tests/local/own_project.py).

A worker app with its own ``main`` runs its own code, in place, bound to the production namespace; a REST client
app gets its namespaces and no runtime; a ``main`` that does not exist is one line, no runtime, exit 0, and
`check --local` is then not green.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cloudflare
import httpx
import pytest

from kvstack.local.state import local_outputs_file
from kvstack.outputs import read_outputs_file
from tests.cli.conftest import run_kvstack
from tests.local.own_project import ACCOUNT, INDEX_JS, WRANGLER, write_project

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-up")]


@dataclass
class Up:
    """A project after `kvstack local up`: what it printed, its exit code and `local status --json`."""

    root: Path
    code: int
    printed: str
    status: dict[str, Any]

    def sdk(self) -> cloudflare.Cloudflare:
        token = Path(self.status["token_file"]).read_text().strip()
        return cloudflare.Cloudflare(
            api_token=token,
            base_url=f"{self.status['api_url']}/client/v4",
            max_retries=0,
            _strict_response_validation=True,
        )

    def ids(self, app: str, binding: str) -> tuple[str, str]:
        found = read_outputs_file(local_outputs_file(self.root, "dev")).apps[app].bindings[binding]
        return found.id, found.preview_id


@pytest.fixture
def local_up() -> Iterator[Any]:
    """`local up --stack dev` on a project; every project started is stopped at the end."""
    started: list[Path] = []

    def up(root: Path) -> Up:
        started.append(root)
        result = run_kvstack("local", "up", "--stack", "dev", "--root", str(root))
        status = run_kvstack("local", "status", "--json", "--root", str(root))
        return Up(root, result.returncode, result.stdout + result.stderr, json.loads(status.stdout or "{}"))

    yield up
    for root in started:
        run_kvstack("local", "down", "--root", str(root))


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = write_project(tmp_path_factory.mktemp("own") / "project")
    result = run_kvstack("local", "up", "--stack", "dev", "--root", str(root))
    try:
        status = run_kvstack("local", "status", "--json", "--root", str(root))
        yield Up(root, result.returncode, result.stdout + result.stderr, json.loads(status.stdout or "{}"))
    finally:
        run_kvstack("local", "down", "--root", str(root))


def test_up_runs_the_apps_own_main_and_says_what_runs_for_each_app(notes: Up) -> None:
    assert notes.code == 0, notes.printed
    assert "notes: runs its own src/index.js (apps/notes/wrangler.toml)" in notes.printed
    assert "ledger: a REST API client: namespaces and tokens only, no runtime" in notes.printed
    assert set(notes.status["apps"]) == {"notes"}
    assert notes.status["runs"]["ledger"].endswith("no runtime")


def test_a_request_writes_through_the_apps_binding_into_the_production_namespace(notes: Up) -> None:
    production, preview = notes.ids("notes", "NOTES_KV")
    answer = httpx.put(f"{notes.status['apps']['notes']}/notes/first", content="hello from the app", timeout=30)
    # its own code, its relative import and its package resolved where its sources are
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"saved": "note:first", "by": "apps/notes/src/store.js with notes-lib from node_modules"}
    with notes.sdk() as sdk:
        stored = sdk.kv.namespaces.values.get("note:first", account_id=ACCOUNT, namespace_id=production)
        assert json.loads(stored.text()) == {"text": "hello from the app"}
        with pytest.raises(cloudflare.NotFoundError):
            sdk.kv.namespaces.values.get("note:first", account_id=ACCOUNT, namespace_id=preview)


def test_the_apps_operations_are_counted_for_the_analytics(notes: Up) -> None:
    production, _ = notes.ids("notes", "NOTES_KV")
    before = _operations(notes, production)
    answer = httpx.put(f"{notes.status['apps']['notes']}/notes/counted", content="one write", timeout=30)
    assert answer.status_code == 201, answer.text
    deadline = time.monotonic() + 30  # the counter's record lands while the request ends (waitUntil)
    while _operations(notes, production).get("write", 0) != before.get("write", 0) + 1:
        assert time.monotonic() < deadline, f"the write was not counted: {_operations(notes, production)}"
        time.sleep(0.2)


def test_up_writes_nothing_into_the_users_own_files(notes: Up) -> None:
    app = notes.root / "apps" / "notes"
    assert (app / "wrangler.toml").read_text() == WRANGLER.replace("{main}", "src/index.js")
    assert sorted(p.relative_to(app).as_posix() for p in app.rglob("*") if "node_modules" not in p.parts) == [
        "src",
        "src/index.js",
        "src/store.js",
        "wrangler.toml",
    ]


def test_check_local_passes_on_the_users_own_app(notes: Up) -> None:
    check = run_kvstack("check", "--local", "--stack", "dev", "--root", str(notes.root))
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads((notes.root / "reports" / "check-dev.json").read_text())
    assert report["summary"]["failed"] == 0
    assert report["summary"]["skipped"] == 0
    passed = {c["name"] for c in report["checks"] if c["outcome"] == "passed"}
    assert "test_app_reports_its_bindings_available[notes]" in passed


def test_a_second_up_runs_the_apps_own_code_again_with_its_edits(notes: Up) -> None:
    # after the module's other tests: `down`, an edit of the app's own source, and an everyday (warm) `up`,
    # which starts wrangler on the view the app ran last
    assert run_kvstack("local", "down", "--root", str(notes.root)).returncode == 0
    stopped = json.loads(run_kvstack("local", "status", "--json", "--root", str(notes.root)).stdout)
    assert (stopped["apps"], stopped["runs"]) == ({}, {})  # after `down` nothing runs, and status says so
    (notes.root / "apps" / "notes" / "src" / "index.js").write_text(INDEX_JS.replace("by: WHERE", 'by: "edited"'))
    again = run_kvstack("local", "up", "--stack", "dev", "--root", str(notes.root))
    assert again.returncode == 0, again.stdout + again.stderr
    shown = run_kvstack("local", "status", "--root", str(notes.root))
    assert "notes: runs its own src/index.js (apps/notes/wrangler.toml)" in shown.stdout + shown.stderr
    url = json.loads(run_kvstack("local", "status", "--json", "--root", str(notes.root)).stdout)["apps"]["notes"]
    answer = httpx.put(f"{url}/notes/second", content="after the edit", timeout=30)
    assert answer.status_code == 201, answer.text
    assert answer.json()["by"] == "edited"


def test_a_rest_only_project_gets_its_namespaces_and_no_runtime(tmp_path: Path, local_up: Any) -> None:
    up = local_up(write_project(tmp_path / "project", notes=False))
    assert up.code == 0, up.printed
    lines = [line for line in up.printed.splitlines() if line.startswith("ledger:")]
    assert lines == ["ledger: a REST API client: namespaces and tokens only, no runtime"], up.printed
    assert up.status["apps"] == {}
    production, preview = up.ids("ledger", "CACHE_KV")
    with up.sdk() as sdk:
        titles = {ns.id: ns.title for ns in sdk.kv.namespaces.list(account_id=ACCOUNT)}
    assert titles[production] == "ledger-dev-CACHE_KV"
    assert titles[preview] == "ledger-dev-CACHE_KV_preview"


def test_a_main_that_does_not_exist_is_one_line_no_runtime_and_check_is_not_green(
    tmp_path: Path, local_up: Any
) -> None:
    up = local_up(write_project(tmp_path / "project", main="src/indx.js", flows=("cache",)))
    assert up.code == 0, up.printed  # documented: the other apps run; this one gets its namespaces
    line = (
        "notes: no runtime: its main src/indx.js (apps/notes/wrangler.toml) does not exist; namespaces only; "
        "its flows (cache) cannot run locally (`check --local` fails them) — build it or fix `main`, then "
        "`kvstack local up` again"
    )
    assert [x for x in up.printed.splitlines() if x.startswith("notes:")] == [line], up.printed
    assert "Traceback" not in up.printed
    assert up.status["apps"] == {}
    production, _ = up.ids("notes", "NOTES_KV")
    with up.sdk() as sdk:
        assert sdk.kv.namespaces.get(production, account_id=ACCOUNT).title == "notes-dev-NOTES_KV"
    check = run_kvstack("check", "--local", "--stack", "dev", "--root", str(up.root))
    assert check.returncode == 1, check.stdout + check.stderr
    report = json.loads((up.root / "reports" / "check-dev.json").read_text())
    outcomes = {c["name"]: (c["outcome"], c["message"]) for c in report["checks"] if c["app"] == "notes"}
    health, why = outcomes["test_app_reports_its_bindings_available[notes]"]
    assert health == "failed"
    assert f"the local Cloudflare runs nothing for it ({line})" in why
    flows = [(outcome, message) for name, (outcome, message) in outcomes.items() if "cache" in name]
    assert flows, outcomes
    for outcome, message in flows:
        assert outcome == "skipped"  # and a skip fails the run unless --allow-skip flows
        assert f"the local Cloudflare runs nothing for notes ({line})" in message


def _operations(up: Up, namespace_id: str) -> dict[str, int]:
    """Today's operations on one namespace, from the local GraphQL Analytics endpoint."""
    query = """query($a: string!, $d: Date!, $n: string!) { viewer { accounts(filter: {accountTag: $a}) {
      kvOperationsAdaptiveGroups(filter: {date: $d, namespaceId: $n}, limit: 10) {
        sum { requests } dimensions { actionType } } } } }"""
    token = Path(up.status["token_file"]).read_text().strip()
    variables = {"a": ACCOUNT, "d": datetime.now(UTC).date().isoformat(), "n": namespace_id}
    answer = httpx.post(
        f"{up.status['api_url']}/client/v4/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    ).json()
    groups = answer["data"]["viewer"]["accounts"][0]["kvOperationsAdaptiveGroups"]
    return {g["dimensions"]["actionType"]: g["sum"]["requests"] for g in groups}
