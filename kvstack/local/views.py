"""Deployed views: the rendered wrangler file as the deployed Worker reads it, which the runtime runs.

`wrangler dev` binds ``preview_id`` when an entry has one (wrangler's ``usePreviewIds: true``), but
the local runtime stands in for the deployed app, which binds ``id``. So beside each rendered file
it runs ``wrangler.deployed.json`` (:data:`DEPLOYED_CONFIG`): the same configuration without the
preview ids, carrying :data:`VIEW_VAR`, a digest each app's ``/health`` reports, so the runtime
knows which view wrangler has loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvstack.files import atomic_write
from kvstack.local.kvcount import instrument_view
from kvstack.workers import ROUTER_DIR
from kvstack.wranglerfile import read_wrangler_file, section_table

if TYPE_CHECKING:
    from kvstack.local.apps import AppSpec

__all__ = [
    "DEPLOYED_CONFIG",
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
    instrument_view(config, spec.config.parent, ROUTER_DIR / "count.js")  # real KV operation counts
    return _view_text(config)


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
