"""`kvstack local up|status|outputs|down` through the real CLI, on a copy of the project.

One `local up` per module: the API process, the Pulumi program applied through it, wrangler dev with
the rendered reference apps. The tests then look at it with real clients (the official SDK, httpx).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudflare
import httpx
import pytest

from kvstack.catalog import load_catalog
from kvstack.local.apps import AppSpec
from kvstack.local.kvcount import USAGE_BINDING
from kvstack.local.state import local_outputs_file
from kvstack.local.views import DEPLOYED_CONFIG, VIEW_VAR, deployed_view
from kvstack.outputs import read_outputs_file
from kvstack.render import plan_render
from tests.cli.conftest import ROOT, run_kvstack
from tests.targets.conftest import stand_in_pulumi

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-up")]

ACCOUNT = "0123456789abcdef0123456789abcdef"


def copy_project(target: Path) -> Path:
    """The files a user's checkout has that `local up` reads (the program and apps stay in the repo)."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, target / name)
    for folder in ("keyspaces", "apps"):
        shutil.copytree(ROOT / folder, target / folder)
    return target


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    root = copy_project(tmp_path_factory.mktemp("project"))
    up = run_kvstack("local", "up", "--stack", "dev", "--root", str(root))
    try:
        assert up.returncode == 0, up.stderr
        status = run_kvstack("local", "status", "--json", "--root", str(root))
        yield root, up.stdout + up.stderr, json.loads(status.stdout)
    finally:
        run_kvstack("local", "down", "--root", str(root))


@pytest.fixture(scope="module")
def sdk(project: tuple[Path, str, dict[str, Any]]) -> Iterator[cloudflare.Cloudflare]:
    _, _, status = project
    token = Path(status["token_file"]).read_text().strip()
    client = cloudflare.Cloudflare(api_token=token, base_url=f"{status['api_url']}/client/v4", max_retries=0)
    yield client
    client.close()


def test_up_prints_where_everything_is_but_never_the_token(project: tuple[Path, str, dict[str, Any]]) -> None:
    _, printed, status = project
    token = Path(status["token_file"]).read_text().strip()
    assert status["api_url"] in printed
    assert status["token_file"] in printed
    for url in status["apps"].values():
        assert url in printed
    assert token not in printed
    assert stat.S_IMODE(os.stat(status["token_file"]).st_mode) == 0o600


def test_status_json_lists_the_api_the_account_and_every_wrangler_app(
    project: tuple[Path, str, dict[str, Any]],
) -> None:
    _, _, status = project
    assert status["account_id"] == ACCOUNT
    assert status["stack"] == "dev"
    assert set(status["apps"]) == {"dubai-app-front", "pickmyclass", "codex", "energy"}
    assert {p["role"] for p in status["processes"]} == {"api", "runtime", "redis", "upstash"}
    assert all(p["alive"] for p in status["processes"])


def test_the_program_created_every_namespace_with_its_derived_title(
    project: tuple[Path, str, dict[str, Any]], sdk: cloudflare.Cloudflare
) -> None:
    root, _, _ = project
    outputs = read_outputs_file(local_outputs_file(root, "dev"))
    titles = {ns.id: ns.title for ns in sdk.kv.namespaces.list(account_id=ACCOUNT, per_page=100)}
    declared = 0
    for _app, _binding, ids in outputs.bindings():
        assert titles.get(ids.id) == ids.title
        assert titles.get(ids.preview_id) == ids.preview_title
        declared += 2
    assert declared == 12


def test_pages_project_binds_production_and_preview_ids(
    project: tuple[Path, str, dict[str, Any]], sdk: cloudflare.Cloudflare
) -> None:
    root, _, _ = project
    ids = read_outputs_file(local_outputs_file(root, "dev")).apps["dubai-app-front"].bindings
    pages = sdk.pages.projects.get("dubai-app-front-dev", account_id=ACCOUNT)
    configs = pages.deployment_configs
    assert configs is not None
    assert configs.production is not None
    assert configs.preview is not None
    production = {b: v.namespace_id for b, v in (configs.production.kv_namespaces or {}).items()}
    preview = {b: v.namespace_id for b, v in (configs.preview.kv_namespaces or {}).items()}
    assert production == {b: i.id for b, i in ids.items()}
    assert preview == {b: i.preview_id for b, i in ids.items()}


def test_tokens_carry_values_only_in_the_secret_file(project: tuple[Path, str, dict[str, Any]]) -> None:
    root, _, _ = project
    path = local_outputs_file(root, "dev")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    outputs = read_outputs_file(path)
    assert {t.role for t in outputs.tokens.values()} == {"deploy", "runtime", "audit"}
    assert all(t.value for t in outputs.tokens.values())
    shown = run_kvstack("local", "outputs", "--stack", "dev", "--root", str(root))
    assert shown.returncode == 0
    for token in outputs.tokens.values():
        assert token.value is not None
        assert token.value not in shown.stdout


def test_runtime_runs_exactly_the_rendered_files(project: tuple[Path, str, dict[str, Any]]) -> None:
    root, _, _ = project
    catalog = load_catalog(root, "dev")
    outputs = read_outputs_file(local_outputs_file(root, "dev"))
    plans = plan_render(catalog, outputs, base_dir=root / ".kvstack" / "local" / "tree", with_secrets=True)
    assert [p.relpath for p in plans if p.drifted or p.changed] == []
    codex = (root / ".kvstack/local/tree/apps/codex/wrangler.toml").read_text()
    assert outputs.apps["codex"].bindings["CACHE_KV"].id in codex


def test_every_app_answers_with_its_bindings(project: tuple[Path, str, dict[str, Any]]) -> None:
    _, _, status = project
    for app, url in status["apps"].items():
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["app"] == app
        assert health["missing"] == [], health


def test_every_app_runs_the_deployed_view_of_its_rendered_file(project: tuple[Path, str, dict[str, Any]]) -> None:
    """When `up` returns, every app runs the view of its rendered file."""
    root, _, status = project
    for app, url in status["apps"].items():
        assert httpx.get(f"{url}/health", timeout=10).json()["view"] == _view_in_file(root, app)


def _deployed_view(root: Path, app: str) -> Path:
    return root / ".kvstack" / "local" / "tree" / "apps" / app / DEPLOYED_CONFIG


def _view_in_file(root: Path, app: str) -> str:
    config = json.loads(_deployed_view(root, app).read_text())
    sections = [config, *config.get("env", {}).values()]
    views = {section["vars"][VIEW_VAR] for section in sections}
    assert len(views) == 1, views
    view: str = views.pop()
    return view


def test_worker_scripts_are_registered_with_the_bindings_wrangler_read(
    project: tuple[Path, str, dict[str, Any]], sdk: cloudflare.Cloudflare
) -> None:
    root, _, _ = project
    ids = read_outputs_file(local_outputs_file(root, "dev")).apps["codex"].bindings
    names = {script.id for script in sdk.workers.scripts.list(account_id=ACCOUNT)}
    codex = next(name for name in names if name and name.startswith("codex"))
    settings = sdk.workers.scripts.script_and_version_settings.get(codex, account_id=ACCOUNT)
    bound = {b.name: getattr(b, "namespace_id", None) for b in settings.bindings or []}
    assert bound == {b: i.id for b, i in ids.items()}


def test_check_and_render_local_use_only_the_running_local_cloudflare_never_pulumi(
    project: tuple[Path, str, dict[str, Any]], tmp_path: Path
) -> None:
    root, _, _ = project
    calls = tmp_path / "pulumi-calls"
    stand_in_pulumi(tmp_path / "bin", json.loads(local_outputs_file(root, "dev").read_text())["kvstack"], calls)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    check = run_kvstack("check", "--stack", "dev", "--local", "--only", "bindings", "--root", str(root), env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "target: local Cloudflare (stack dev); outputs from the running local Cloudflare" in check.stderr
    render = run_kvstack("render", "--stack", "dev", "--local", "--check", "--root", str(root), env=env)
    assert "target: local Cloudflare (stack dev)" in render.stderr
    assert not calls.exists(), "the stand-in pulumi was asked although the target is local"


def test_second_up_is_refused_while_running(project: tuple[Path, str, dict[str, Any]]) -> None:
    root, _, _ = project
    again = run_kvstack("local", "up", "--stack", "dev", "--root", str(root))
    assert again.returncode == 2
    assert "already running" in again.stderr


def test_down_stops_exactly_its_processes_and_up_again_reuses_the_namespaces(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    first = run_kvstack("local", "up", "--stack", "dev", "--root", str(root))
    assert first.returncode == 0, first.stderr
    try:
        # No app has run yet: wrangler starts once render has written the views it runs.
        assert _steps(first.stderr, "rendering", "starting wrangler dev") == [0, 1], first.stderr
        status = json.loads(run_kvstack("local", "status", "--json", "--root", str(root)).stdout)
        pids = [p["pid"] for p in status["processes"]]
        ids_before = read_outputs_file(local_outputs_file(root, "dev")).to_document()["apps"]
        down = run_kvstack("local", "down", "--root", str(root))
        assert down.returncode == 0
        for pid in pids:
            assert f"pid {pid}" in down.stderr
            assert not _running(pid), f"pid {pid} still runs after down"
        after = run_kvstack("local", "status", "--json", "--root", str(root))
        assert after.returncode == 1
        views = {app: _deployed_view(root, app).stat().st_mtime_ns for app in status["apps"]}
        second = run_kvstack("local", "up", "--stack", "dev", "--root", str(root))
        assert second.returncode == 0, second.stderr
        # Every app has run: wrangler starts first, on the views of the first `up`.
        assert _steps(second.stderr, "starting wrangler dev", "starting the API") == [0, 1], second.stderr
        ids_after = read_outputs_file(local_outputs_file(root, "dev")).to_document()["apps"]
        for app, entry in ids_before.items():
            assert entry["bindings"] == ids_after[app]["bindings"], app
        # The second `up` started wrangler on the views of the first, which render wrote again unchanged:
        # not rewritten, so not reloaded.
        apps = json.loads(run_kvstack("local", "status", "--json", "--root", str(root)).stdout)["apps"]
        for app, mtime in views.items():
            assert _deployed_view(root, app).stat().st_mtime_ns == mtime, app
            assert httpx.get(f"{apps[app]}/health", timeout=10).json()["view"] == _view_in_file(root, app)
    finally:
        run_kvstack("local", "down", "--root", str(root))


@pytest.fixture
def stopped(tmp_path: Path) -> Iterator[Path]:
    """A copy of the project after one `local up` and its `down`: the state of an everyday `up`."""
    root = copy_project(tmp_path)
    first = run_kvstack("local", "up", "--stack", "dev", "--root", str(root))
    assert first.returncode == 0, first.stderr
    try:
        assert run_kvstack("local", "down", "--root", str(root)).returncode == 0
        yield root
    finally:
        run_kvstack("local", "down", "--root", str(root))


def test_up_reloads_a_last_view_that_render_changes(stopped: Path) -> None:
    root = stopped
    # As if codex had last run with other namespaces (say, before a reset elsewhere).
    rendered = _deployed_view(root, "codex").parent / "wrangler.toml"
    stale = rendered.with_name("wrangler.stale.toml")
    stale.write_text(re.sub(r'"[0-9a-f]{32}"', lambda found: found.group(0)[::-1], rendered.read_text()))
    deployed_view(AppSpec("codex", stale, "env.staging"))
    stale_view = _view_in_file(root, "codex")
    stale.unlink()

    second = run_kvstack("local", "up", "--stack", "dev", "--root", str(root))
    assert second.returncode == 0, second.stderr
    assert _steps(second.stderr, "starting wrangler dev", "starting the API") == [0, 1], second.stderr
    apps = json.loads(run_kvstack("local", "status", "--json", "--root", str(root)).stdout)["apps"]
    running = httpx.get(f"{apps['codex']}/health", timeout=10).json()
    assert running["view"] == _view_in_file(root, "codex") != stale_view
    assert running["missing"] == []
    ids = read_outputs_file(local_outputs_file(root, "dev")).apps["codex"].bindings
    running_section = json.loads(_deployed_view(root, "codex").read_text())["env"]["staging"]
    app_entries = [e for e in running_section["kv_namespaces"] if e["binding"] != USAGE_BINDING]  # kvcount's own
    assert {entry["id"] for entry in app_entries} == {binding.id for binding in ids.values()}


def test_up_of_another_stack_does_not_start_on_the_last_stacks_views(stopped: Path) -> None:
    root = stopped
    # As if the last `up` had been for another stack (its views bind dev's sections to placeholders).
    state_file = root / ".kvstack" / "local" / "local.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "stack": "prod"}))
    second = run_kvstack("local", "up", "--stack", "dev", "--root", str(root))
    assert second.returncode == 0, second.stderr
    assert _steps(second.stderr, "rendering", "starting wrangler dev") == [0, 1], second.stderr


def test_a_stack_adopting_a_namespace_the_local_cloudflare_lacks_fails_clearly(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    adoption = load_catalog(root, "prod").app("chatchonk-api").binding("CACHE_KV").adopt
    assert adoption is not None
    up = run_kvstack("local", "up", "--stack", "prod", "--root", str(root))
    assert up.returncode == 2, up.stderr
    assert f"adopts {adoption.id}" in up.stderr
    assert "hint: adopting takes over a namespace that already exists" in up.stderr
    assert run_kvstack("local", "status", "--json", "--root", str(root)).returncode == 1, "left something running"


def _steps(printed: str, *steps: str) -> list[int]:
    """The order in which ``steps`` first appear in ``printed``."""
    found = [printed.find(step) for step in steps]
    assert -1 not in found, f"missing step among {steps}"
    return sorted(range(len(steps)), key=lambda index: found[index])


def _running(pid: int) -> bool:
    """True while ``pid`` runs. A zombie has stopped: it only waits for init (its parent now) to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_runtime_binds_the_production_ids_the_deployed_worker_would(project: tuple[Path, str, dict[str, Any]]) -> None:
    """`wrangler dev` would bind preview_id; the local app stands in for the deployed Worker, which binds id."""
    root, _, status = project
    ids = read_outputs_file(local_outputs_file(root, "dev")).apps["pickmyclass"].bindings["KV"]
    token = Path(status["token_file"]).read_text().strip()
    response = httpx.get(f"{status['apps']['pickmyclass']}/api/classes/4242", timeout=30)
    assert response.status_code == 200, response.text
    runtime = next(p for p in status["processes"] if p["role"] == "runtime")
    explorer = f"{runtime['url']}/cdn-cgi/explorer/api/storage/kv/namespaces"
    production = httpx.get(f"{explorer}/{ids.id}/keys", params={"prefix": "class_state:4242"}, timeout=10).json()
    preview = httpx.get(f"{explorer}/{ids.preview_id}/keys", params={"prefix": "class_state:4242"}, timeout=10).json()
    assert [k["name"] for k in production["result"]] == ["class_state:4242"]
    assert preview["result"] == []
    assert token not in response.text
