"""kvstack.local.router: what the one `wrangler dev` can run — one --env for all, routable names, distinct Workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvstack.errors import LocalCloudflareError
from kvstack.local.apps import AppSpec
from kvstack.local.runtime import start_runtime


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_apps_needing_different_envs_cannot_share_a_runtime(tmp_path: Path) -> None:
    a = write(tmp_path / "a.toml", 'name = "a"\n')
    b = write(tmp_path / "b.toml", 'name = "b"\n')
    specs = [AppSpec("a", a, "env.staging"), AppSpec("b", b, "env.production")]
    with pytest.raises(LocalCloudflareError, match=r"different wrangler environments \(production, staging\)"):
        start_runtime(specs, persist_to=tmp_path, log_dir=tmp_path, work_dir=tmp_path)


def test_a_top_level_app_with_the_same_env_section_is_refused(tmp_path: Path) -> None:
    a = write(tmp_path / "a.toml", 'name = "a"\n')
    b = write(tmp_path / "b.toml", 'name = "b"\n[env.staging]\nname = "b"\n')
    with pytest.raises(LocalCloudflareError, match=r"app b should run its top level.*\[env\.staging\]"):
        start_runtime(
            [AppSpec("a", a, "env.staging"), AppSpec("b", b)], persist_to=tmp_path, log_dir=tmp_path, work_dir=tmp_path
        )


@pytest.mark.parametrize("name", ["Codex", "__kvstack", "a/b", ""])
def test_app_names_must_be_usable_as_routes(tmp_path: Path, name: str) -> None:
    config = write(tmp_path / "a.toml", 'name = "a"\n')
    with pytest.raises(LocalCloudflareError, match="cannot be a route"):
        start_runtime([AppSpec(name, config)], persist_to=tmp_path, log_dir=tmp_path, work_dir=tmp_path)


def test_two_apps_with_one_worker_name_are_refused(tmp_path: Path) -> None:
    a = write(tmp_path / "a.toml", 'name = "same"\n')
    b = write(tmp_path / "b.toml", 'name = "same"\n')
    with pytest.raises(LocalCloudflareError, match="several apps are named same"):
        start_runtime([AppSpec("a", a), AppSpec("b", b)], persist_to=tmp_path, log_dir=tmp_path, work_dir=tmp_path)
