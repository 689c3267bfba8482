"""Deployed views: the rendered wrangler file as the deployed Worker reads it, which the runtime runs.

`wrangler dev` binds ``preview_id`` when an entry has one (wrangler's ``usePreviewIds: true``), but
the local runtime stands in for the deployed app, which binds ``id``. So beside each rendered file
it runs ``wrangler.deployed.json`` (:data:`DEPLOYED_CONFIG`): the same configuration without the
preview ids, carrying :data:`VIEW_VAR`, a digest the view's probe entry (:data:`PROBE_FILE`, answering
``GET /__kvstack/view`` before the app sees the request) reports, so the runtime knows which view
wrangler has loaded, whatever the app's own routes are.

An app that runs its own code (``runs.py``) keeps it where it is: the view, written in the state tree,
points ``main`` and the other paths of the file back at the app's own folder. A Pages app's own Functions
run as the Worker wrangler built from them beside the view (``pages.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvstack.files import atomic_write
from kvstack.local.kvcount import ENTRY_FILE, instrument_view
from kvstack.local.pages import run_pages_functions
from kvstack.workers import ROUTER_DIR
from kvstack.wranglerfile import read_wrangler_file, section_table

if TYPE_CHECKING:
    from kvstack.local.apps import AppSpec

__all__ = [
    "DEPLOYED_CONFIG",
    "PROBE_FILE",
    "PROBE_PATH",
    "VIEW_VAR",
    "deployed_view",
    "deployed_view_text",
    "view_is_written",
    "view_of",
    "write_view",
]

# The file the runtime runs beside each rendered wrangler file, and the var in it naming its content.
DEPLOYED_CONFIG = "wrangler.deployed.json"
VIEW_VAR = "KVSTACK_VIEW"
# The view's entry, and the path where it answers {"app", "view"} for the runtime (never passed to the app).
PROBE_FILE = "kvstack-view.js"
PROBE_PATH = "/__kvstack/view"
# Paths of a wrangler file that wrangler reads relative to the file: (table, key) or key of a section.
_RELATIVE_PATHS = (("assets", "directory"), ("site", "bucket"), ("build", "cwd"), ("build", "watch_dir"))


def deployed_view(spec: AppSpec) -> AppSpec:
    """Write the rendered file as a deployed Worker reads it, and return the spec that runs it.

    Everything but the preview ids — ids, other bindings, vars, environments — is what render wrote,
    plus :data:`VIEW_VAR` (see :func:`_view_text`). An unchanged view is not rewritten, so wrangler
    does not reload it.
    """
    return write_view(spec, deployed_view_text(spec))


def deployed_view_text(spec: AppSpec) -> str:
    """The text of ``spec``'s deployed view, from its rendered file as it is now."""
    config = read_wrangler_file(spec.config).data
    _keep_only_running_env(config, spec.env)
    for table in _tables(config):
        for entry in table.get("kv_namespaces") or []:
            entry.pop("preview_id", None)
    if spec.source is not None:
        _run_in_place(config, spec.config.parent, spec.source)
    if spec.pages is not None:
        run_pages_functions(config, spec.config.parent, spec.pages.output)
    app_main = config.get("main")
    instrument_view(config, spec.config.parent, ROUTER_DIR / "count.js")  # real KV operation counts
    if config.get("main") == ENTRY_FILE and isinstance(app_main, str):
        _write_probe(spec.config.parent, spec.name, app_main)
        config["main"] = PROBE_FILE
    return _view_text(config)


def _run_in_place(config: dict[str, Any], view_dir: Path, source: Path) -> None:
    """Point the view (in ``view_dir``) at the app's own folder ``source``: its ``main`` and its other paths.

    ``main`` becomes a path relative to the view (the counting entry imports it with ``import … from``),
    the section's own ``main`` if it has one; the other paths wrangler resolves against the file become
    absolute. A custom ``build`` runs in the app's folder, as it would beside the app's own file.
    """
    tables = _tables(config)
    main = next((t["main"] for t in reversed(tables) if isinstance(t.get("main"), str)), None)
    for table in tables:
        table.pop("main", None)
        for key in ("tsconfig", "base_dir"):
            if isinstance(table.get(key), str):
                table[key] = str(source / table[key])
        for outer, inner in _RELATIVE_PATHS:
            nested = table.get(outer)
            if isinstance(nested, dict) and isinstance(nested.get(inner), str):
                nested[inner] = str(source / nested[inner])
        build = table.get("build")
        if isinstance(build, dict) and "cwd" not in build:
            build["cwd"] = str(source)
    if main is not None:
        config["main"] = Path(os.path.relpath(source / main, view_dir)).as_posix()


def _write_probe(view_dir: Path, app: str, app_main: str) -> None:
    """The view's entry: answers :data:`PROBE_PATH` itself, hands every other request to the counting entry.

    It also re-exports the app's named exports (Durable Object classes, entrypoints), which wrangler looks
    for in ``main``.
    """
    module = "./" + app_main.removeprefix("./")
    text = (
        "// Generated by kvstack.local.views: tells `kvstack local up` which view this worker runs.\n"
        f'import app from "./{ENTRY_FILE}";\n'
        f"export * from {json.dumps(module)};\n"
        "export default {\n"
        "  ...app,\n"
        "  fetch(request, env, ctx) {\n"
        f"    if (new URL(request.url).pathname === {json.dumps(PROBE_PATH)}) {{\n"
        f"      return Response.json({{ app: {json.dumps(app)}, view: env.{VIEW_VAR} ?? null }});\n"
        "    }\n"
        '    if (!app.fetch) return new Response("this worker has no fetch handler", { status: 501 });\n'
        "    return app.fetch(request, env, ctx);\n"
        "  },\n"
        "};\n"
    )
    path = view_dir / PROBE_FILE
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic_write(path, text, mode=0o644)


def _keep_only_running_env(config: dict[str, Any], env: str | None) -> None:
    """Drop the ``[env.*]`` sections the runtime does not run: the view of a top-level app keeps none.

    One ``--env`` applies to every config of the runtime's ``wrangler dev``, and wrangler 4.164 refuses a
    config that has ``[env.*]`` sections but not that one (a top-level app with only ``[env.production]``
    in a dev runtime that runs codex's ``env.staging``).
    """
    envs = config.pop("env", None)
    if env is not None and isinstance(envs, dict) and env in envs:
        config["env"] = {env: envs[env]}


def _tables(config: dict[str, Any]) -> list[dict[str, Any]]:
    envs = config.get("env") or {}
    return [config, *(table for table in envs.values() if isinstance(table, dict))]


def _view_text(config: dict[str, Any]) -> str:
    """``config`` as a view's file, carrying :data:`VIEW_VAR`.

    The var is a digest of the configuration, in every section's vars, and each app's ``/health``
    reports it: that is how :meth:`kvstack.local.runtime.LocalRuntime.wait_ready` knows which view
    wrangler has loaded.
    """
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    for table in _tables(config):
        table["vars"] = {**(table.get("vars") or {}), VIEW_VAR: digest}
    return json.dumps(config, indent=2) + "\n"


def view_is_written(spec: AppSpec, text: str) -> bool:
    """True if ``spec``'s deployed view already holds exactly ``text``."""
    try:
        return spec.deployed_config.read_text(encoding="utf-8") == text
    except OSError:
        return False


def write_view(spec: AppSpec, text: str) -> AppSpec:
    """Write ``text`` as ``spec``'s deployed view unless it already is; the spec that runs the view."""
    if not view_is_written(spec, text):
        atomic_write(spec.deployed_config, text, mode=0o644)
    return dataclasses.replace(spec, config=spec.deployed_config)


def view_of(config: Path, section: str) -> str | None:
    """The :data:`VIEW_VAR` of the section of ``config`` that runs, or None for a file that is no view."""
    view = (section_table(read_wrangler_file(config).data, section).get("vars") or {}).get(VIEW_VAR)
    return view if isinstance(view, str) else None
