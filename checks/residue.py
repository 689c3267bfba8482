"""Smoke data left where the run cannot clean it: a shared key of an app holding this run's smoke ids.

Flows write smoke keys only, each with a TTL, and the run deletes them at the end. An app may still
copy what a flow sent into a key every request shares (a log, a counter): that key is not ours to
rewrite, so after the flows the run reads every fixed key (a pattern without placeholders) of the
namespaces its flows drove, and reports each one holding this run's id as a failure.
"""

from __future__ import annotations

from checks.context import CheckContext
from kvstack.errors import KvstackError

__all__ = ["find_residue"]


def find_residue(context: CheckContext) -> tuple[list[str], list[str]]:
    """(residue, errors): every fixed key of a flow app's namespaces that holds this run's smoke data."""
    residue: list[str] = []
    errors: list[str] = []
    selected = set(context.options.apps)
    for app in context.catalog.apps:
        outputs = context.outputs.apps.get(app.name)
        if not app.flows or outputs is None or (selected and app.name not in selected):
            continue
        for binding in app.bindings:
            ids = outputs.bindings.get(binding.name)
            if binding.keyspace is None or ids is None:
                continue
            keyspace = context.keyspaces[binding.keyspace]
            fixed = [p.key.text for p in keyspace.patterns if not p.key.placeholders]
            if not fixed:
                continue
            for namespace_id, title in ((ids.id, ids.title), (ids.preview_id, ids.preview_title)):
                try:
                    values = context.api.bulk_get(namespace_id, fixed)
                except KvstackError as error:
                    errors.append(f"namespace {title} ({namespace_id}): reading its shared keys: {error.message}")
                    continue
                residue.extend(
                    f"{app.name}.{binding.name}: key {key!r} of {title} ({namespace_id}) holds smoke data of run "
                    f"{context.run_id} — a flow's request was copied into a shared key; the app must keep smoke "
                    "requests (ids starting with kvstack-smoke-) out of it"
                    for key, value in values.items()
                    if value is not None and context.run_id in value
                )
    return residue, errors
