"""kvstack.local.runs: what runs for each app (its own main or Functions, the reference app, nothing), staged."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from kvstack.catalog import load_catalog
from kvstack.errors import LocalCloudflareError
from kvstack.local.apps import AppSpec
from kvstack.local.pages import PagesProject
from kvstack.local.runs import plan_runs, running_specs, stage_runs
from kvstack.local.views import DEPLOYED_CONFIG
from tests.local.own_pages import write_pages_project
from tests.local.own_project import write_project

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("stack", "section", "codex_section"), [("dev", "top", "env.staging"), ("prod", "env.production", "env.production")]
)
def test_the_seeds_run_their_reference_apps(tmp_path: Path, stack: str, section: str, codex_section: str) -> None:
    specs = running_specs(load_catalog(ROOT, stack), tmp_path)
    assert specs == [
        AppSpec("dubai-app-front", tmp_path / "apps" / "dubai-app-front" / "wrangler.toml", section),
        AppSpec("pickmyclass", tmp_path / "apps" / "pickmyclass" / "wrangler.jsonc", section),
        AppSpec("codex", tmp_path / "apps" / "codex" / "wrangler.toml", codex_section),
    ]


def test_each_seed_gets_one_line_saying_what_runs_and_where_its_flows_run(tmp_path: Path) -> None:
    lines = {run.app: run.line for run in plan_runs(load_catalog(ROOT, "dev"), tmp_path)}
    assert lines == {
        "dubai-app-front": "dubai-app-front: runs kvstack's reference app (a Pages app with no functions/ beside "
        "apps/dubai-app-front/wrangler.toml); "
        "its flows (chart) run against it",
        "chatchonk-api": "chatchonk-api: a REST API client: namespaces and tokens only, no runtime; "
        "its flows (rest-cache) use the API, not a runtime",
        "pickmyclass": "pickmyclass: runs kvstack's reference app (its main src/index.ts is not in this project); "
        "its flows (class-state) run against it",
        "codex": "codex: runs kvstack's reference app (its main .svelte-kit/cloudflare/_worker.js is not in this "
        "project); its flows (session, cache) run against it",
    }


def test_an_apps_own_main_wins_over_the_reference_app(tmp_path: Path) -> None:
    project = _seed_project(tmp_path / "project")
    (project / "apps" / "pickmyclass" / "src").mkdir()
    (project / "apps" / "pickmyclass" / "src" / "index.ts").write_text("export default {};\n")
    runs = {run.app: run for run in plan_runs(load_catalog(project, "dev"), tmp_path / "tree")}
    assert runs["pickmyclass"].kind == "own"
    config = tmp_path / "tree" / "apps" / "pickmyclass" / "wrangler.jsonc"
    assert runs["pickmyclass"].spec == AppSpec("pickmyclass", config, "top", project / "apps" / "pickmyclass")
    assert runs["codex"].kind == "reference"


def test_a_users_worker_runs_its_own_main_from_its_own_folder(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    runs = {run.app: run for run in plan_runs(load_catalog(project, "dev"), tmp_path / "tree")}
    assert runs["notes"].kind == "own"
    assert runs["notes"].line == "notes: runs its own src/index.js (apps/notes/wrangler.toml)"
    assert runs["notes"].spec == AppSpec(
        "notes", tmp_path / "tree" / "apps" / "notes" / "wrangler.toml", "top", project / "apps" / "notes"
    )
    assert runs["ledger"].kind == "none"
    assert runs["ledger"].spec is None


def test_an_own_app_says_its_flows_run_against_its_own_code(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", flows=("cache",))
    [notes] = [run for run in plan_runs(load_catalog(project, "dev"), tmp_path / "tree") if run.app == "notes"]
    assert notes.line == "notes: runs its own src/index.js (apps/notes/wrangler.toml); its flows (cache) run against it"


def test_a_main_that_does_not_exist_runs_nothing_and_says_so(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", main="dist/worker.js")
    [notes] = [run for run in plan_runs(load_catalog(project, "dev"), tmp_path / "tree") if run.app == "notes"]
    assert (notes.kind, notes.spec) == ("none", None)
    assert "its main dist/worker.js (apps/notes/wrangler.toml) does not exist" in notes.line


def test_a_wrangler_file_without_main_runs_nothing(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    wrangler = project / "apps" / "notes" / "wrangler.toml"
    wrangler.write_text(wrangler.read_text().replace('main = "src/index.js"\n', ""))
    [notes] = [run for run in plan_runs(load_catalog(project, "dev"), tmp_path / "tree") if run.app == "notes"]
    assert notes.line == "notes: apps/notes/wrangler.toml names no main: namespaces only, no runtime"


def test_two_running_apps_in_one_folder_are_refused_with_both_names(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    catalog = (project / "Pulumi.yaml").read_text()
    twin = catalog.split("        ledger:")[0].split("      apps:\n")[1].replace("notes:", "notes-twin:", 1)
    twin = twin.replace("apps/notes/wrangler.toml", "apps/notes/twin.toml")
    shutil.copy(project / "apps" / "notes" / "wrangler.toml", project / "apps" / "notes" / "twin.toml")
    (project / "Pulumi.yaml").write_text(catalog.replace("        ledger:", twin + "        ledger:", 1))
    with pytest.raises(LocalCloudflareError, match="apps notes and notes-twin keep their wrangler files in one"):
        plan_runs(load_catalog(project, "dev"), tmp_path / "tree")


def test_staging_an_own_app_brings_its_dev_vars_privately_and_keeps_the_last_view(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    (project / "apps" / "notes" / ".dev.vars").write_text('API_KEY="local"\n')
    catalog = load_catalog(project, "dev")
    runs = plan_runs(catalog, tmp_path / "tree")
    folder = tmp_path / "tree" / "apps" / "notes"
    folder.mkdir(parents=True)
    (folder / "worker.js").write_text("// a reference copy from an earlier up\n")
    (folder / DEPLOYED_CONFIG).write_text("{}\n")
    (folder / ".dev.vars.staging").write_text("OLD=1\n")
    stage_runs(runs, catalog)
    assert sorted(p.name for p in folder.iterdir()) == [".dev.vars", DEPLOYED_CONFIG]
    assert (folder / ".dev.vars").read_text() == 'API_KEY="local"\n'
    assert stat.S_IMODE((folder / ".dev.vars").stat().st_mode) == 0o600


def test_a_pages_app_with_functions_runs_them_from_its_own_folder(tmp_path: Path) -> None:
    project = write_pages_project(tmp_path / "project")
    [site] = plan_runs(load_catalog(project, "dev"), tmp_path / "tree")
    assert site.kind == "functions"
    assert site.line == "site: runs its own Pages Functions functions/ (apps/site/wrangler.toml), assets public/"
    folder = project / "apps" / "site"
    pages = PagesProject(folder, folder / "functions", folder / "public", "2025-09-01", ("nodejs_compat",))
    assert site.spec == AppSpec("site", tmp_path / "tree" / "apps" / "site" / "wrangler.toml", "top", pages=pages)


def test_a_pages_app_without_functions_keeps_its_one_line_and_runs_nothing(tmp_path: Path) -> None:
    project = write_pages_project(tmp_path / "project", functions=False)
    [site] = plan_runs(load_catalog(project, "dev"), tmp_path / "tree")
    assert (site.kind, site.spec) == ("none", None)
    assert site.line == "site: a Pages app: kvstack runs no Pages build locally; namespaces only, no runtime"


def test_a_pages_apps_own_functions_win_over_the_reference_app(tmp_path: Path) -> None:
    project = _seed_project(tmp_path / "project")
    (project / "apps" / "dubai-app-front" / "functions").mkdir()
    runs = {run.app: run for run in plan_runs(load_catalog(project, "dev"), tmp_path / "tree")}
    assert runs["dubai-app-front"].kind == "functions"
    assert runs["dubai-app-front"].line == (
        "dubai-app-front: runs its own Pages Functions functions/ (apps/dubai-app-front/wrangler.toml), assets none; "
        "its flows (chart) run against it"
    )


def _seed_project(project: Path) -> Path:
    """A copy of the seed's catalog, keyspaces and app folders, for a user to add their own code to."""
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, project / name)
    for folder in ("keyspaces", "apps"):
        shutil.copytree(ROOT / folder, project / folder)
    return project


def test_a_pages_apps_static_output_outside_its_folder_is_named_from_it(tmp_path: Path) -> None:
    project = write_pages_project(tmp_path / "project")
    (project / "dist").mkdir()
    wrangler = project / "apps" / "site" / "wrangler.toml"
    wrangler.write_text(wrangler.read_text().replace('"public"', f'"{project / "dist"}"'))  # absolute
    [site] = plan_runs(load_catalog(project, "dev"), tmp_path / "tree")
    assert site.line.endswith("), assets ../../dist/")
    assert site.spec is not None
    assert site.spec.pages is not None
    assert site.spec.pages.output == project / "dist"
