"""What `kvstack local up` runs for each app of the catalog: the app's own code, kvstack's reference app, or nothing.

In this order:

1. a ``worker`` app whose wrangler file names a ``main`` (relative to that file; the section the stack runs
   may override it) that exists runs **its own code**, in place: its deployed view (``views.py``) imports
   that file where it is, so the app's relative imports and its ``node_modules`` resolve as in the project;
2. a ``pages`` app whose wrangler file's folder holds ``functions/`` runs **its own Pages Functions**,
   built by wrangler into its folder of the state tree at staging (``pages.py``), with its static output
   as assets; a build that fails leaves it no runtime, with wrangler's message in its line;
3. else an app kvstack has a reference app for (``kvstack/workers/apps/<app>/``, standing in for the seeds,
   whose Next.js/SvelteKit sources are not in this repository) runs that reference app;
4. else nothing runs for it: the app gets its namespaces, Pages project and tokens, and one line says why
   (a REST client, a Pages app without Functions, a ``main`` that does not exist). Never a refusal: the
   other apps run.

Each app runs in its own folder of the state tree, ``tree/<folder of its wrangler file>/``, where render
writes the rendered copy of its wrangler file (``kvstack render --base-dir`` semantics) and the runtime
writes its deployed view. The user's own files are never written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kvstack.catalog import App, Catalog
from kvstack.errors import LocalCloudflareError
from kvstack.local.apps import AppSpec, local_dev_vars, restage, run_section, stage_reference_app, write_dev_vars
from kvstack.local.pages import FUNCTIONS_DIR, build_functions, pages_project
from kvstack.local.wrangler import node_environment, wrangler_command
from kvstack.workers import REFERENCE_APPS_DIR
from kvstack.wranglerfile import read_wrangler_file

__all__ = ["AppRun", "RunKind", "plan_runs", "running_specs", "stage_runs"]

RunKind = Literal["own", "functions", "reference", "none"]


@dataclass(frozen=True)
class AppRun:
    """What runs for one app, the one line that says so, and (unless nothing runs) the spec of its file."""

    app: str
    kind: RunKind
    line: str
    spec: AppSpec | None = None


def plan_runs(catalog: Catalog, tree: Path) -> list[AppRun]:
    """For every app of ``catalog``, in order: what runs for it, with its files under ``tree``. Reads only."""
    runs = [_plan(catalog, app, tree) for app in catalog.apps]
    folders: dict[Path, str] = {}
    for run in runs:
        if run.spec is None:
            continue
        other = folders.setdefault(run.spec.config.parent, run.app)
        if other != run.app:
            raise LocalCloudflareError(
                f"apps {other} and {run.app} keep their wrangler files in one folder "
                f"({run.spec.config.parent.relative_to(tree)}); the local runtime runs each app from its own folder",
                hint="give each app its own folder (wrangler writes .wrangler/ beside each file too)",
            )
    return runs


def running_specs(catalog: Catalog, tree: Path) -> list[AppSpec]:
    """The specs of the apps that run (their own code or a reference app), rendered under ``tree``."""
    return [run.spec for run in plan_runs(catalog, tree) if run.spec is not None]


def stage_runs(
    runs: Sequence[AppRun], catalog: Catalog, progress: Callable[[str], None] = lambda _message: None
) -> list[AppRun]:
    """Prepare each running app's folder; returns ``runs``, a Pages app whose Functions did not build as none.

    A reference app's folder gets a copy of ``workers/apps/<app>/`` and kvstack's documented local
    secrets (``.dev.vars``). An app running its own code gets the ``.dev.vars*`` files beside its own
    wrangler file, as `wrangler dev` (or `wrangler pages dev`) would read them there; a Pages app's
    Functions are built into its folder. All keep the deployed view they ran last (with the files it
    runs), so that `local up` can start wrangler on it while the stack is applied.
    """
    staged: list[AppRun] = []
    for run in runs:
        staged.append(run)
        if run.spec is None:
            continue
        folder = run.spec.config.parent
        if run.kind == "reference":
            stage_reference_app(folder, run.app)
            write_dev_vars(folder, local_dev_vars(run.app))
            continue
        restage(folder, None)
        app = catalog.app(run.app)
        assert app.wrangler is not None  # an app runs its own code only from its wrangler file
        _copy_dev_vars(app.wrangler.path.parent, folder)
        if run.spec.pages is None:
            continue
        progress(f"building the Pages Functions of {run.app} (wrangler pages functions build)")
        failed = build_functions(run.spec.pages, folder, wrangler_command(), node_environment())
        if failed is not None:
            line = (
                f"{run.app}: no runtime: its Pages Functions ({app.wrangler.relpath}) did not build: {failed}; "
                f"namespaces only{_unreached(_flows(app))} — fix it, then `kvstack local up` again"
            )
            staged[-1] = AppRun(run.app, "none", line)
    return staged


def _plan(catalog: Catalog, app: App, tree: Path) -> AppRun:
    flows = _flows(app)
    if app.wrangler is None:
        what = "a REST API client" if app.kind == "rest" else f"a {app.kind} app without a wrangler file"
        reach = f"; {flows} use the API, not a runtime" if flows and app.kind == "rest" else _unreached(flows)
        return AppRun(app.name, "none", f"{app.name}: {what}: namespaces and tokens only, no runtime{reach}")
    config = tree / app.wrangler.relpath
    own_file = app.wrangler.path
    main = _main(app)
    if app.kind == "worker" and main is not None and (own_file.parent / main).is_file():
        spec = AppSpec(app.name, config, run_section(app), source=own_file.parent)
        served = f"; {flows} run against it" if flows else ""
        return AppRun(app.name, "own", f"{app.name}: runs its own {main} ({app.wrangler.relpath}){served}", spec)
    project = pages_project(app)
    if project is not None:
        spec = AppSpec(app.name, config, run_section(app), pages=project)
        assets = Path(os.path.relpath(project.output, project.folder)).as_posix() + "/" if project.output else "none"
        served = f"; {flows} run against it" if flows else ""
        line = f"{app.name}: runs its own Pages Functions {FUNCTIONS_DIR}/ ({app.wrangler.relpath}), assets {assets}"
        return AppRun(app.name, "functions", line + served, spec)
    if (REFERENCE_APPS_DIR / app.name / config.name).is_file():
        if app.kind == "pages":
            why = f"a Pages app with no {FUNCTIONS_DIR}/ beside {app.wrangler.relpath}"
        elif main is None:
            why = f"{app.wrangler.relpath} names no main" if own_file.is_file() else f"no {app.wrangler.relpath}"
        else:
            why = f"its main {main} is not in this project"
        served = f"; {flows} run against it" if flows else ""
        line = f"{app.name}: runs kvstack's reference app ({why}){served}"
        return AppRun(app.name, "reference", line, AppSpec(app.name, config, run_section(app)))
    if app.kind == "worker" and main is not None:
        line = (
            f"{app.name}: no runtime: its main {main} ({app.wrangler.relpath}) does not exist; namespaces only"
            f"{_unreached(flows)} — build it or fix `main`, then `kvstack local up` again"
        )
    elif app.kind == "pages":
        line = f"{app.name}: a Pages app: kvstack runs no Pages build locally; namespaces only, no runtime"
        line += _unreached(flows)
    else:
        line = f"{app.name}: {app.wrangler.relpath} names no main: namespaces only, no runtime{_unreached(flows)}"
    return AppRun(app.name, "none", line)


def _flows(app: App) -> str:
    return f"its flows ({', '.join(app.flows)})" if app.flows else ""


def _unreached(flows: str) -> str:
    return f"; {flows} cannot run locally (`check --local` fails them)" if flows else ""


def _main(app: App) -> str | None:
    """The ``main`` of the section the stack runs (an env section may set its own), else None."""
    assert app.wrangler is not None
    if not app.wrangler.path.is_file():
        return None
    file = read_wrangler_file(app.wrangler.path)
    main = file.section(run_section(app)).get("main") or file.data.get("main")
    return main if isinstance(main, str) and main.strip() else None


def _copy_dev_vars(source: Path, folder: Path) -> None:
    """The app's own ``.dev.vars*`` files (wrangler dev's local secrets) into ``folder``, mode 0600; no others.

    A file with the same bytes is not rewritten: wrangler dev reloads on a write.
    """
    wanted = {f.name: f for f in source.glob(".dev.vars*") if f.is_file() and not f.is_symlink()}
    for stale in folder.glob(".dev.vars*"):
        if stale.name not in wanted:
            stale.unlink()
    for name, original in sorted(wanted.items()):
        content, target = original.read_bytes(), folder / name
        if target.is_file() and target.read_bytes() == content:
            continue
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as stream:
            stream.write(content)
        os.chmod(target, 0o600)
