"""A user's own Pages app in `kvstack local up`: its Functions, built by real wrangler, run bound to production.

Through the real CLI and real wrangler (tests/local/own_pages.py): a Pages app with ``functions/`` runs them,
serving its static output as ``ASSETS``; its writes land in the production namespace and are counted, and
`check --local` passes. Functions that do not build are one line naming the file and wrangler's message,
no runtime for that app, exit 0, and `check --local` exits 1. Without ``functions/`` nothing runs, as before.
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
    start,
    wait_until_counted,
)
from tests.local.own_pages import ACCOUNT, BROKEN_KEY_JS, INDEX_HTML, KEY_JS, write_pages_project

__all__ = ["local_up"]  # the fixture, used by name

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-up")]

RUNS = "site: runs its own Pages Functions functions/ (apps/site/wrangler.toml), assets public/"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with running(write_pages_project(tmp_path_factory.mktemp("pages") / "project")) as up:
        yield up


def test_up_runs_the_pages_apps_own_functions_and_says_so(site: Up) -> None:
    assert site.code == 0, site.printed
    assert site.lines("site") == [RUNS], site.printed
    assert set(site.status["apps"]) == {"site"}
    assert site.status["runs"]["site"] == RUNS


def test_local_status_shows_the_pages_apps_line(site: Up) -> None:
    shown = run_kvstack("local", "status", "--root", str(site.root))
    assert RUNS in shown.stdout + shown.stderr


def test_a_function_writes_through_its_binding_into_the_production_namespace(site: Up) -> None:
    answer = httpx.put(f"{site.status['apps']['site']}/api/first", content="hello from a function", timeout=30)
    # the function's import from outside functions/ resolved where the project is
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"saved": "note:first", "by": "apps/site/src/notes.js"}
    stored = site.stored_in_production_only("site", "SITE_KV", "note:first")
    assert json.loads(stored) == {"text": "hello from a function"}
    read = httpx.get(f"{site.status['apps']['site']}/api/first", timeout=30)
    assert (read.status_code, read.json()) == (200, {"text": "hello from a function"})


def test_what_no_function_answers_is_the_static_output(site: Up) -> None:
    page = httpx.get(f"{site.status['apps']['site']}/", timeout=30)
    assert (page.status_code, page.text) == (200, INDEX_HTML)


def test_a_function_uses_nodes_built_ins_under_the_projects_nodejs_compat(site: Up) -> None:
    answer = httpx.get(f"{site.status['apps']['site']}/encode", params={"text": "kv"}, timeout=30)
    assert (answer.status_code, answer.json()) == (200, {"base64": "a3Y="})


def test_the_functions_operations_are_counted_for_the_analytics(site: Up) -> None:
    production, _ = site.ids("site", "SITE_KV")
    before = operations(site, production)
    answer = httpx.put(f"{site.status['apps']['site']}/api/counted", content="one write", timeout=30)
    assert answer.status_code == 201, answer.text
    wait_until_counted(site, production, "write", before.get("write", 0) + 1)


def test_up_writes_nothing_into_the_users_pages_project(site: Up) -> None:
    app = site.root / "apps" / "site"
    assert sorted(p.relative_to(app).as_posix() for p in app.rglob("*")) == [
        "functions",
        "functions/api",
        "functions/api/[key].js",
        "functions/encode.js",
        "functions/health.js",
        "public",
        "public/index.html",
        "src",
        "src/notes.js",
        "wrangler.toml",
    ]
    assert not (site.root / ".wrangler").exists()


def test_check_local_passes_on_the_users_pages_app(site: Up) -> None:
    assert_check_local_passes(site, "site")


def test_a_second_up_builds_the_edited_functions_again(site: Up) -> None:
    # after the module's other tests: `down`, an edit of a function, and an everyday (warm) `up`, which starts
    # wrangler on the view the app ran last, once the Functions are built again
    assert run_kvstack("local", "down", "--root", str(site.root)).returncode == 0
    function = site.root / "apps" / "site" / "functions" / "api" / "[key].js"
    function.write_text(KEY_JS.replace("by: WHERE", 'by: "edited"'))
    again = start(site.root)
    assert again.code == 0, again.printed
    assert again.lines("site") == [RUNS], again.printed
    answer = httpx.put(f"{again.status['apps']['site']}/api/second", content="after the edit", timeout=30)
    assert (answer.status_code, answer.json()["by"]) == (201, "edited")


def test_functions_that_do_not_build_are_one_line_no_runtime_and_check_is_not_green(
    tmp_path: Path, local_up: Callable[[Path], Up]
) -> None:
    up = local_up(write_pages_project(tmp_path / "project", key_js=BROKEN_KEY_JS))
    assert up.code == 0, up.printed  # documented: like a missing main, the other apps run; this one does not
    [line] = up.lines("site") or [""]
    assert line.startswith(
        "site: no runtime: its Pages Functions (apps/site/wrangler.toml) did not build: functions/api/[key].js:"
    ), up.printed
    assert line.endswith("; namespaces only — fix it, then `kvstack local up` again"), line
    assert "Traceback" not in up.printed
    assert up.status["apps"] == {}
    assert up.status["runs"]["site"] == line
    code, printed, report = check_local(up)
    assert code == 1, printed
    outcomes = {c["name"]: (c["outcome"], c["message"]) for c in report["checks"] if c["app"] == "site"}
    health, why = outcomes["test_app_reports_its_bindings_available[site]"]
    assert health == "failed"
    assert f"the local Cloudflare runs nothing for it ({line})" in why


def test_a_pages_app_without_functions_gets_its_namespaces_and_no_runtime(
    tmp_path: Path, local_up: Callable[[Path], Up]
) -> None:
    up = local_up(write_pages_project(tmp_path / "project", functions=False))
    assert up.code == 0, up.printed
    assert up.lines("site") == ["site: a Pages app: kvstack runs no Pages build locally; namespaces only, no runtime"]
    assert up.status["apps"] == {}
    production, _ = up.ids("site", "SITE_KV")
    with up.sdk() as sdk:
        assert sdk.kv.namespaces.get(production, account_id=ACCOUNT).title == "site-dev-SITE_KV"
