"""Adopt what is unmanaged: a ``pulumi import --file`` document and the catalog's ``adopt:`` lines.

The document is Pulumi's bulk-import format, ``{"resources": [{"type", "name", "id"}]}``, with
pulumi-cloudflare 6.x's KV namespace type token and import id ``<account_id>/<namespace_id>``. Names
are the ones the program gives the namespaces of a binding: ``<app>-<BINDING>`` and
``<app>-<BINDING>-preview`` (infra/kvstack_infra/app.py and namespaces.py).

The ``adopt:`` lines are the way kvstack itself adopts: put them into ``Pulumi.<stack>.yaml`` and the
next ``pulumi up`` imports the namespaces into the program's own resources.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kvstack.audit.inventory import NamespaceRecord
from kvstack.catalog import Catalog
from kvstack.files import atomic_write

__all__ = [
    "KV_NAMESPACE_TYPE",
    "AdoptionPlan",
    "import_id",
    "namespace_id_of",
    "plan_adoption",
    "write_import_file",
]

# Type token exactly as pulumi-cloudflare 6.23.1 registers it (the same as infra/kvstack_infra/adapter.py's).
KV_NAMESPACE_TYPE: Final = "cloudflare:index/workersKvNamespace:WorkersKvNamespace"


def import_id(account_id: str, namespace_id: str) -> str:
    """pulumi-cloudflare 6.x's import id of a KV namespace."""
    return f"{account_id}/{namespace_id}"


def namespace_id_of(value: str) -> tuple[str, str]:
    """``(account_id, namespace_id)`` parsed back from an import id; ValueError if it is not one."""
    account_id, sep, namespace_id = value.partition("/")
    if not sep or not account_id or not namespace_id or "/" in namespace_id:
        raise ValueError(f"{value!r} is not <account_id>/<namespace_id>")
    return account_id, namespace_id


@dataclass(frozen=True)
class AdoptionPlan:
    """The import document and, per stack file, the ``adopt:`` lines (or why a namespace cannot be adopted)."""

    document: dict[str, Any]
    catalog_lines: dict[str, str]
    notes: list[str]


def plan_adoption(account_id: str, records: list[NamespaceRecord], catalogs: dict[str, Catalog]) -> AdoptionPlan:
    """Every adoptable namespace in the import document; ``adopt:`` lines for those a stack declares."""
    resources: list[dict[str, str]] = []
    adopt: dict[str, dict[str, dict[str, dict[str, str]]]] = defaultdict(lambda: defaultdict(dict))
    notes: list[str] = []
    for record in sorted((r for r in records if r.classification == "adoptable"), key=lambda r: r.title):
        if record.id is None or record.app is None or record.binding is None:
            continue  # adoptable records always carry all three (inventory.CONVENTION_RE)
        suffix = "-preview" if record.preview else ""
        resources.append(
            {
                "type": KV_NAMESPACE_TYPE,
                "name": f"{record.app}-{record.binding}{suffix}",
                "id": import_id(account_id, record.id),
            }
        )
        stack = _stack_for(record, catalogs)
        if stack is None:
            notes.append(
                f"{record.title}: no stack declares app {record.app} with binding {record.binding} in that "
                "environment; declare it in the catalog before adopting"
            )
            continue
        adopt[stack][record.app].setdefault(record.binding, {})["preview_id" if record.preview else "id"] = record.id
    lines: dict[str, str] = {}
    for stack, apps in sorted(adopt.items()):
        text = ["config:", "  kvstack:apps:"]
        for app, bindings in sorted(apps.items()):
            text += [f"    {app}:", "      adopt:"]
            for binding, ids in sorted(bindings.items()):
                if "id" not in ids:
                    notes.append(f"{app}.{binding} (stack {stack}): only the preview twin exists; adopt needs `id`")
                    continue
                text.append(f"        {binding}:")
                text += [f"          {field}: {ids[field]}" for field in ("id", "preview_id") if field in ids]
        lines[stack] = "\n".join(text) + "\n"
    return AdoptionPlan({"resources": resources}, lines, notes)


def _stack_for(record: NamespaceRecord, catalogs: dict[str, Catalog]) -> str | None:
    """The stack whose environment and app/binding the namespace's title names."""
    for stack, catalog in catalogs.items():
        if not record.title.startswith(f"{record.app}-{catalog.environment}-"):
            continue
        if any(app.name == record.app and b.name == record.binding for app, b in catalog.bindings()):
            return stack
    return None


def write_import_file(path: Path, plan: AdoptionPlan) -> None:
    """Write the import document whole or not at all."""
    atomic_write(path, json.dumps(plan.document, indent=2) + "\n", mode=0o644)
