"""A user's own apps in `kvstack local up`, through the real CLI and real wrangler (tests/local/own_project.py).

A worker app with its own ``main`` runs its own code, in place, bound to the production namespace; a REST client
app gets its namespaces and no runtime; a ``main`` that does not exist is one line, no runtime, exit 0, and
`check --local` is then not green.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import run_kvstack
from tests.local.local_up import (
    Up,
    assert_check_local_passes,
    check_local,
    local_up,
    operations,
    running,
    wait_until_counted,
)
from tests.local.own_project import ACCOUNT, INDEX_JS, WRANGLER, write_project

__all__ = ["local_up"]  # the fixture, used by name

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-up")]


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with running(write_project(tmp_path_factory.mktemp("own") / "project")) as up:
        yield up


def test_up_runs_the_apps_own_main_and_says_what_runs_for_each_app(notes: Up) -> None:
    assert notes.code == 0, notes.printed
    assert "notes: runs its own src/index.js (apps/notes/wrangler.toml)" in notes.printed
    assert "ledger: a REST API client: namespaces and tokens only, no runtime" in notes.printed
    assert set(notes.status["apps"]) == {"notes"}
    assert notes.status["runs"]["ledger"].endswith("no runtime")


def test_a_request_writes_through_the_apps_binding_into_the_production_namespace(notes: Up) -> None:
    answer = httpx.put(f"{notes.status['apps']['notes']}/notes/first", content="hello from the app", timeout=30)
    # its own code, its relative import and its package resolved where its sources are
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"saved": "note:first", "by": "apps/notes/src/store.js with notes-lib from node_modules"}
    stored = notes.stored_in_production_only("notes", "NOTES_KV", "note:first")
    assert json.loads(stored) == {"text": "hello from the app"}


def test_the_apps_operations_are_counted_for_the_analytics(notes: Up) -> None:
    production, _ = notes.ids("notes", "NOTES_KV")
    before = operations(notes, production)
    answer = httpx.put(f"{notes.status['apps']['notes']}/notes/counted", content="one write", timeout=30)
    assert answer.status_code == 201, answer.text
    wait_until_counted(notes, production, "write", before.get("write", 0) + 1)


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
    assert_check_local_passes(notes, "notes")


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


def test_a_rest_only_project_gets_its_namespaces_and_no_runtime(tmp_path: Path, local_up: Callable[[Path], Up]) -> None:
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
    tmp_path: Path, local_up: Callable[[Path], Up]
) -> None:
    up = local_up(write_project(tmp_path / "project", main="src/indx.js", flows=("cache",)))
    assert up.code == 0, up.printed  # documented: the other apps run; this one gets its namespaces
    line = (
        "notes: no runtime: its main src/indx.js (apps/notes/wrangler.toml) does not exist; namespaces only; "
        "its flows (cache) cannot run locally (`check --local` fails them) — build it or fix `main`, then "
        "`kvstack local up` again"
    )
    assert up.lines("notes") == [line], up.printed
    assert "Traceback" not in up.printed
    assert up.status["apps"] == {}
    production, _ = up.ids("notes", "NOTES_KV")
    with up.sdk() as sdk:
        assert sdk.kv.namespaces.get(production, account_id=ACCOUNT).title == "notes-dev-NOTES_KV"
    code, printed, report = check_local(up)
    assert code == 1, printed
    outcomes = {c["name"]: (c["outcome"], c["message"]) for c in report["checks"] if c["app"] == "notes"}
    health, why = outcomes["test_app_reports_its_bindings_available[notes]"]
    assert health == "failed"
    assert f"the local Cloudflare runs nothing for it ({line})" in why
    flows = [(outcome, message) for name, (outcome, message) in outcomes.items() if "cache" in name]
    assert flows, outcomes
    for outcome, message in flows:
        assert outcome == "skipped"  # and a skip fails the run unless --allow-skip flows
        assert f"the local Cloudflare runs nothing for notes ({line})" in message
