"""Deployed views keep only the wrangler environment the runtime runs (see tests/local/runtime/test_views.py)."""

from __future__ import annotations

import json
from pathlib import Path

from kvstack.local.apps import AppSpec
from kvstack.local.views import deployed_view

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
