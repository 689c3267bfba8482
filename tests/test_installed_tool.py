"""The installed tool is the product: `pip install .` (not editable) runs the main job in a folder of user files.

A fresh virtualenv outside the repository gets kvstack from a copy of the repository's tracked files; a
folder holding only the catalog (Pulumi*.yaml), keyspaces/ and apps/ is the project. From there the
installed `kvstack` must find its own Pulumi program, schemas, workers and pinned wrangler through the
package and the user cache, never through the repository: `local install`, `local up`, `check --local`
and `local down` all succeed. Planted defect: an empty wrangler cache makes `local up` exit 2 saying to
run `kvstack local install`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstack.local.install import cache_dir

ROOT = Path(__file__).resolve().parents[1]
USER_FILES = ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "keyspaces", "apps")

pytestmark = [pytest.mark.slow, pytest.mark.runtime, pytest.mark.xdist_group("installed-tool")]


def _tracked_copy(target: Path) -> Path:
    """The repository as a clone holds it: tracked files only (no venv, no caches, no local state)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin/` of a fresh virtualenv with kvstack installed from a copy of the repository (not editable)."""
    base = tmp_path_factory.mktemp("installed")
    source = _tracked_copy(base / "source")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    shutil.rmtree(source)  # nothing may be found there afterwards
    return venv / "bin"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    for name in USER_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns(".env", ".wrangler"))
        else:
            shutil.copy2(ROOT / name, folder / name)
    return folder


def _environment(tool: Path, **extra: str) -> dict[str, str]:
    """The user's shell: the tool's venv first on PATH, nothing pointing at the repository or its venv."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    repo_bins = {str(ROOT / ".venv" / "bin"), str(Path(sys.executable).parent)}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in repo_bins]
    env["PATH"] = os.pathsep.join([str(tool), *path])
    env.update(extra)
    return env


def _run(tool: Path, project: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool / "kvstack"), *args],
        cwd=project,
        env=_environment(tool, **extra),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.fixture
def running(tool: Path, project: Path) -> Iterator[Path]:
    """`kvstack local up --stack dev` of the installed tool in the project folder; always brought down."""
    installed = _run(tool, project, "local", "install")
    assert installed.returncode == 0, installed.stderr
    try:
        up = _run(tool, project, "local", "up", "--stack", "dev")
        assert up.returncode == 0, up.stdout + up.stderr
        yield project
    finally:
        _run(tool, project, "local", "down")


def test_the_installed_package_is_not_the_repository(tool: Path, project: Path) -> None:
    shown = subprocess.run(
        [str(tool / "python"), "-c", "import kvstack, checks; print(kvstack.__file__); print(checks.__file__)"],
        cwd=project,
        env=_environment(tool),
        capture_output=True,
        text=True,
        check=True,
    )
    for line in shown.stdout.splitlines():
        assert Path(line).is_relative_to(tool.parent), f"{line} is imported from outside the installed tool"


def test_local_up_without_the_pinned_wrangler_says_to_run_local_install(
    tool: Path, project: Path, tmp_path: Path
) -> None:
    up = _run(tool, project, "local", "up", "--stack", "dev", KVSTACK_CACHE_DIR=str(tmp_path / "empty-cache"))
    try:
        assert up.returncode == 2, up.stdout + up.stderr
        assert "kvstack local install" in up.stderr
    finally:
        _run(tool, project, "local", "down")


def test_the_installed_tool_runs_the_main_job_from_a_folder_of_user_files(tool: Path, running: Path) -> None:
    assert cache_dir().is_dir()
    checked = _run(tool, running, "check", "--stack", "dev", "--local")
    assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-2000:]
    assert "0 failed" in checked.stdout
    down = _run(tool, running, "local", "down")
    assert down.returncode == 0, down.stderr
    assert "stopped runtime" in down.stderr
