"""kvstack.local.pages: a Pages app's Functions found where wrangler finds them, built by the real pinned wrangler.

A failed build is one line naming the file (from the project's folder) and wrangler's message, for the ways a
user's Functions fail: a syntax error, an import that does not resolve, a ``functions/`` with no route.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kvstack.catalog import load_catalog
from kvstack.local import pages
from kvstack.local.apps import AppSpec
from kvstack.local.pages import PAGES_DIR, PagesProject, build_functions, pages_project
from kvstack.local.processes import group_members
from kvstack.local.views import PROBE_FILE, deployed_view
from kvstack.local.wrangler import node_environment, wrangler_command
from tests.local.own_pages import BROKEN_KEY_JS, write_pages_project


def _project(root: Path) -> PagesProject:
    project = pages_project(load_catalog(root, "dev").app("site"))
    assert project is not None
    return project


def test_the_functions_and_the_static_output_are_found_beside_the_wrangler_file(tmp_path: Path) -> None:
    project = _project(write_pages_project(tmp_path / "project"))
    app = tmp_path / "project" / "apps" / "site"
    assert project == PagesProject(app, app / "functions", app / "public", "2025-09-01", ("nodejs_compat",))


def test_a_pages_app_without_functions_has_no_project_to_run(tmp_path: Path) -> None:
    root = write_pages_project(tmp_path / "project", functions=False)
    assert pages_project(load_catalog(root, "dev").app("site")) is None


def test_an_output_dir_that_does_not_exist_serves_no_assets(tmp_path: Path) -> None:
    root = write_pages_project(tmp_path / "project")
    (root / "apps" / "site" / "public" / "index.html").unlink()
    (root / "apps" / "site" / "public").rmdir()
    assert _project(root).output is None


def test_the_view_runs_the_built_functions_through_the_counter_with_the_static_output_as_assets(
    tmp_path: Path,
) -> None:
    project = _project(write_pages_project(tmp_path / "project"))
    folder = tmp_path / "tree" / "apps" / "site"
    folder.mkdir(parents=True)
    rendered = (project.folder / "wrangler.toml").read_text().replace('"REPLACE_ME"', '"' + "a" * 32 + '"')
    (folder / "wrangler.toml").write_text(rendered + 'preview_id = "' + "b" * 32 + '"\n')
    view = json.loads(deployed_view(AppSpec("site", folder / "wrangler.toml", pages=project)).config.read_text())
    assert "pages_build_output_dir" not in view  # wrangler dev refuses a Pages configuration
    assert view["main"] == PROBE_FILE
    assert f'from "./{PAGES_DIR}/worker/index.js"' in (folder / PROBE_FILE).read_text()
    assert {"binding": "SITE_KV", "id": "a" * 32} in view["kv_namespaces"]
    assert json.loads(view["vars"]["KVSTACK_KV_IDS"]) == {"SITE_KV": "a" * 32}
    assets = {"directory": str(project.folder / "public"), "binding": "ASSETS", "run_worker_first": True}
    assert view["assets"] == assets


@pytest.mark.runtime
def test_functions_build_offline_into_the_apps_state_folder_only(tmp_path: Path) -> None:
    project = _project(write_pages_project(tmp_path / "project"))
    folder = tmp_path / "tree" / "apps" / "site"
    assert build_functions(project, folder, wrangler_command(), node_environment()) is None
    assert (folder / PAGES_DIR / "worker" / "index.js").is_file()
    assert (folder / PAGES_DIR / "assets").is_dir()
    assert not (tmp_path / "project" / ".wrangler").exists()
    assert not (project.folder / ".wrangler").exists()


@pytest.mark.runtime
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"api/[key].js": BROKEN_KEY_JS}, 'functions/api/[key].js:5:2: Unexpected "return"'),
        (
            {"index.js": 'import { x } from "./nothere.js";\nexport const onRequest = () => new Response(x);\n'},
            'functions/index.js:1:18: Could not resolve "./nothere.js"',
        ),
        ({"README.md": "no routes here\n"}, "No routes found when building Functions directory: "),
    ],
    ids=["syntax-error", "unresolved-import", "no-routes"],
)
def test_a_build_that_fails_is_one_line_with_the_file_and_wranglers_message(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    root = write_pages_project(tmp_path / "project", functions=False)
    functions = root / "apps" / "site" / "functions"
    for name, text in files.items():
        (functions / name).parent.mkdir(parents=True, exist_ok=True)
        (functions / name).write_text(text)
    failed = build_functions(_project(root), tmp_path / "tree", wrangler_command(), node_environment())
    assert failed is not None
    assert failed.startswith(expected), failed
    assert "\n" not in failed
    assert "\x1b" not in failed


@pytest.mark.runtime
def test_a_failing_file_outside_the_project_is_named_by_its_absolute_path(tmp_path: Path) -> None:
    root = write_pages_project(tmp_path / "project", functions=False)
    (root / "shared").mkdir()
    (root / "shared" / "format.js").write_text("export const format = (text) => {\n")
    functions = root / "apps" / "site" / "functions"
    functions.mkdir()
    (functions / "index.js").write_text(
        'import { format } from "../../../shared/format.js";\n'
        'export const onRequest = () => new Response(format("x"));\n'
    )
    failed = build_functions(_project(root), tmp_path / "tree", wrangler_command(), node_environment())
    assert failed is not None
    assert failed.startswith(f"{(root / 'shared' / 'format.js').resolve()}:2:0: "), failed


@pytest.mark.runtime
def test_a_build_past_its_deadline_is_stopped_whole_and_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(write_pages_project(tmp_path / "project"))
    monkeypatch.setattr(pages, "_BUILD_TIMEOUT", 0.5)  # wrangler alone takes longer to start
    started: list[int] = []
    popen = subprocess.Popen

    def recording(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = popen(*args, **kwargs)
        started.append(process.pid)
        return process

    monkeypatch.setattr(pages.subprocess, "Popen", recording)
    failed = build_functions(project, tmp_path / "tree", wrangler_command(), node_environment())
    assert failed == "`wrangler pages functions build` did not finish within 0.5 s"
    assert started
    assert group_members(started[0]) == []
