"""Deployed views: only the env the runtime runs; an own app's code and paths in place (tests/local/runtime too)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kvstack.local.apps import AppSpec
from kvstack.local.kvcount import ENTRY_FILE
from kvstack.local.views import PROBE_FILE, PROBE_PATH, deployed_view

TOML = """\
name = "front"
main = "worker.js"

[[kv_namespaces]]
binding = "KV"
id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
preview_id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

[env.staging]
[[env.staging.kv_namespaces]]
binding = "KV"
id = "cccccccccccccccccccccccccccccccc"

[env.production]
[[env.production.kv_namespaces]]
binding = "KV"
id = "dddddddddddddddddddddddddddddddd"
"""


def _view(tmp_path: Path, section: str) -> dict[str, object]:
    config = tmp_path / "wrangler.toml"
    config.write_text(TOML)
    view = deployed_view(AppSpec("front", config, section))
    loaded: dict[str, object] = json.loads(view.config.read_text())
    return loaded


def test_view_of_a_top_level_app_keeps_no_env_section(tmp_path: Path) -> None:
    # wrangler refuses `--env staging` for a config whose only env section is [env.production]
    view = _view(tmp_path, "top")
    assert "env" not in view, view
    entries = view["kv_namespaces"]
    assert isinstance(entries, list)
    assert {"binding": "KV", "id": "a" * 32} in entries, entries  # the production id, no preview id


def test_view_of_an_env_app_keeps_only_that_env(tmp_path: Path) -> None:
    view = _view(tmp_path, "env.staging")
    envs = view["env"]
    assert isinstance(envs, dict)
    assert list(envs) == ["staging"]
    assert envs["staging"]["kv_namespaces"][0]["id"] == "c" * 32


OWN_TOML = """\
name = "notes"
main = "src/index.js"
compatibility_date = "2025-09-01"

[assets]
directory = "public"

[build]
command = "npm run build"

[[kv_namespaces]]
binding = "NOTES_KV"
id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
preview_id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

[env.production]
main = "dist/production.js"
[[env.production.kv_namespaces]]
binding = "NOTES_KV"
id = "dddddddddddddddddddddddddddddddd"
"""


def _own_view(tmp_path: Path, section: str) -> tuple[dict[str, Any], Path, Path]:
    source = tmp_path / "project" / "apps" / "notes"
    source.mkdir(parents=True)
    tree = tmp_path / "tree" / "apps" / "notes"
    tree.mkdir(parents=True)
    (tree / "wrangler.toml").write_text(OWN_TOML)
    view = deployed_view(AppSpec("notes", tree / "wrangler.toml", section, source=source))
    loaded: dict[str, Any] = json.loads(view.config.read_text())
    return loaded, tree, source


def test_view_of_an_own_app_runs_its_main_in_place_through_the_probe_and_the_counter(tmp_path: Path) -> None:
    view, tree, source = _own_view(tmp_path, "top")
    assert view["main"] == PROBE_FILE
    probe = (tree / PROBE_FILE).read_text()
    assert f'import app from "./{ENTRY_FILE}";' in probe
    assert PROBE_PATH in probe
    entry = (tree / ENTRY_FILE).read_text()
    [module] = re.findall(r'^import app from "(.+)";$', entry, re.MULTILINE)
    assert (tree / module).resolve() == source / "src" / "index.js"  # resolved from the view, it is the app's file
    assert f'export * from "{module}";' in probe
    assert {"binding": "NOTES_KV", "id": "a" * 32} in view["kv_namespaces"]  # production id, no preview id


def test_view_of_an_own_app_points_its_other_paths_at_its_own_folder(tmp_path: Path) -> None:
    view, _, source = _own_view(tmp_path, "top")
    assert view["assets"]["directory"] == str(source / "public")
    assert view["build"] == {"command": "npm run build", "cwd": str(source)}


def test_view_of_an_own_app_runs_the_main_of_its_section(tmp_path: Path) -> None:
    view, tree, source = _own_view(tmp_path, "env.production")
    assert "main" not in view["env"]["production"]
    [module] = re.findall(r'^import app from "(.+)";$', (tree / ENTRY_FILE).read_text(), re.MULTILINE)
    assert (tree / module).resolve() == source / "dist" / "production.js"
