"""A user's own Pages Functions in the local runtime: found where wrangler finds them, built by wrangler.

`wrangler pages dev` runs in the folder of the project's wrangler file (Pages reads its configuration from
there only) and takes the Functions from ``functions/`` of that folder and the static files from
``pages_build_output_dir``, relative to that file. The local runtime finds them the same way.

Why a build, not `wrangler pages dev`: the runtime is ONE `wrangler dev` that runs every app as an
auxiliary worker (``runtime.py``: two wrangler processes on one KV store lose writes), and `pages dev` is a
process of its own. `wrangler pages functions build --outdir` compiles ``functions/`` offline into one
Worker module holding what Pages runs (file-based routes, middleware, the fallback to the ``ASSETS``
binding). That module then runs like any own app's code, through its deployed view (``views.py``): bound to
the production ids, its KV operations counted, behind the router. The build is done at each `local up`,
so an edit of the Functions takes effect at the next `up`.

Everything the build writes (wrangler's own temporary files included) stays in :data:`PAGES_DIR` of the
app's folder in the state tree; the user's files are never written.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kvstack.catalog import App
from kvstack.files import atomic_write
from kvstack.local.processes import stop_group
from kvstack.wranglerfile import read_wrangler_file

__all__ = [
    "FUNCTIONS_DIR",
    "PAGES_DIR",
    "PagesProject",
    "build_functions",
    "pages_project",
    "run_pages_functions",
]

FUNCTIONS_DIR: Final = "functions"
# In the app's folder of the state tree: wrangler's working folder for the build, the built worker, empty assets.
PAGES_DIR: Final = "kvstack-pages"
_WORKER = "worker"
_EMPTY_ASSETS = "assets"
_BUILD_TIMEOUT = 120.0
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERROR = re.compile(r"\[ERROR\]\s*(.*)$")
_LOCATION = re.compile(r"^\s*(?P<file>[^\s│].*?):(?P<line>\d+):(?P<column>\d+):?(?:\s+ERROR:\s*(?P<message>.*))?$")


@dataclass(frozen=True)
class PagesProject:
    """A Pages app's project folder as `wrangler pages dev` sees it: its Functions and its static output."""

    folder: Path
    functions: Path
    output: Path | None  # ``pages_build_output_dir``, when the file names one that exists
    # What the build must know of the runtime (`pages dev` reads them from the file): with nodejs_compat,
    # wrangler resolves `import … from "buffer"` and friends to Node's built-ins; without, the build fails.
    compatibility_date: str | None = None
    compatibility_flags: tuple[str, ...] = ()


def pages_project(app: App) -> PagesProject | None:
    """The project of a Pages app whose wrangler file's folder holds ``functions/``, else None."""
    if app.kind != "pages" or app.wrangler is None or not app.wrangler.path.is_file():
        return None
    folder = app.wrangler.path.parent
    if not (folder / FUNCTIONS_DIR).is_dir():
        return None
    data = read_wrangler_file(app.wrangler.path).data
    named, date, flags = (
        data.get("pages_build_output_dir"),
        data.get("compatibility_date"),
        data.get("compatibility_flags"),
    )
    output = folder / named if isinstance(named, str) and named.strip() else None
    return PagesProject(
        folder,
        folder / FUNCTIONS_DIR,
        output if output is not None and output.is_dir() else None,
        date if isinstance(date, str) else None,
        tuple(str(flag) for flag in flags) if isinstance(flags, list) else (),
    )


def build_functions(project: PagesProject, app_folder: Path, wrangler: list[str], env: dict[str, str]) -> str | None:
    """Build ``project``'s Functions into ``app_folder/PAGES_DIR``; None, or what failed in one line.

    The line names the file (relative to the project folder) and wrangler's message. wrangler runs in
    :data:`PAGES_DIR`, beside a ``package.json`` of its own: wrangler keeps its temporary files under the
    nearest folder holding one, which must not be the user's project.
    """
    work = app_folder / PAGES_DIR
    work.mkdir(parents=True, exist_ok=True)
    (work / _EMPTY_ASSETS).mkdir(exist_ok=True)
    atomic_write(work / "package.json", '{"private": true, "description": "kvstack: Pages build"}\n', mode=0o644)
    command = [*wrangler, "pages", "functions", "build", str(project.functions), "--outdir", str(work / _WORKER)]
    if project.compatibility_date is not None:
        command += ["--compatibility-date", project.compatibility_date]
    for flag in project.compatibility_flags:
        command += ["--compatibility-flags", flag]
    # Its own process group: on a timeout the whole build stops, esbuild's service included.
    with subprocess.Popen(
        command,
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as build:
        try:
            printed, _ = build.communicate(timeout=_BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop_group(build.pid)
            build.communicate()
            return f"`wrangler pages functions build` did not finish within {_BUILD_TIMEOUT:g} s"
    if build.returncode == 0 and (work / _WORKER / "index.js").is_file():
        return None
    output = _ANSI.sub("", printed.decode(errors="replace"))
    return _first_error(output, project, work) or f"wrangler exited with code {build.returncode}"


def _first_error(output: str, project: PagesProject, work: Path) -> str | None:
    """wrangler's first error as ``<file>:<line>:<column>: <message>``, the file relative to the project."""
    lines = output.splitlines()
    for index, text in enumerate(lines):
        found = _ERROR.search(text)
        if found is None or found.group(1).startswith("Build failed with"):
            continue
        message = found.group(1).strip()
        for after in lines[index + 1 : index + 8]:
            location = _LOCATION.match(after)
            if location is not None:
                return f"{_project_path(location.group('file'), project, work)}:{location.group('line')}:" + (
                    f"{location.group('column')}: {message}"
                )
        return message
    for text in lines:  # esbuild's short form: `<file>:<line>:<column>: ERROR: <message>`
        location = _LOCATION.match(text)
        if location is not None and location.group("message"):
            where = _project_path(location.group("file"), project, work)
            return f"{where}:{location.group('line')}:{location.group('column')}: {location.group('message')}"
    return None


def _project_path(file: str, project: PagesProject, work: Path) -> str:
    """A path of wrangler's output (relative to its working folder or to the Functions) from the project folder.

    A file outside the project (a shared folder of a monorepo) is named by its absolute path.
    """
    folder = project.folder.resolve()
    for base in (work, project.functions):
        candidate = (base / file).resolve()
        if candidate.is_file():
            return candidate.relative_to(folder).as_posix() if candidate.is_relative_to(folder) else str(candidate)
    return file


def run_pages_functions(config: dict[str, Any], view_dir: Path, assets: Path | None) -> None:
    """Point a Pages app's view (in ``view_dir``) at its built Functions, with ``assets`` (or none) as ASSETS.

    The worker runs first for every path, as Functions do on Pages; what no Function answers falls back
    to ``ASSETS``. ``pages_build_output_dir`` goes: `wrangler dev` refuses a Pages configuration.
    """
    config.pop("pages_build_output_dir", None)
    for table in [config, *(t for t in (config.get("env") or {}).values() if isinstance(t, dict))]:
        table.pop("main", None)
        table.pop("assets", None)
    config["main"] = f"{PAGES_DIR}/{_WORKER}/index.js"
    directory = assets if assets is not None else view_dir / PAGES_DIR / _EMPTY_ASSETS
    config["assets"] = {"directory": str(directory), "binding": "ASSETS", "run_worker_first": True}
