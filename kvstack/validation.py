"""`kvstack validate` beyond the catalog: the keyspace files, the wrangler files and the other stacks.

What breaks later is found here, before anything is created: a binding or store whose keyspace file is
missing or invalid (`check` would fail; a KV binding needs a KV keyspace, an Upstash store a Redis
one), a wrangler file that binds one name twice (wrangler refuses it), two stacks owning the same
section of one wrangler file (each render would overwrite the other's ids), and more namespaces in one
account than Cloudflare allows. Every problem is collected, each with file:line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kvstack import names
from kvstack.catalog import CATALOG_KEY, PROJECT_FILE, Catalog, available_stacks, load_catalog
from kvstack.catalog_rules import MAX_NAMESPACES_PER_ACCOUNT
from kvstack.errors import CatalogError, CatalogProblems, KvstackError, WranglerFileError
from kvstack.yamlfile import YamlDocument, read_yaml

__all__ = ["Validation", "validate_project"]


@dataclass
class Validation:
    """The catalog (None when it does not load), every problem, and notes on what could not be compared."""

    catalog: Catalog | None
    problems: list[KvstackError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _flatten(error: KvstackError) -> list[KvstackError]:
    return list(error.problems) if isinstance(error, CatalogProblems) else [error]


def validate_project(root: Path, stack: str, *, now: datetime | None = None) -> Validation:
    """Everything `kvstack validate --stack STACK` checks; nothing is created and no network is used."""
    try:
        catalog = load_catalog(root, stack, now=now)
    except CatalogError as error:
        return Validation(None, _flatten(error))
    result = Validation(catalog)
    project_doc = read_yaml(catalog.root / PROJECT_FILE, PROJECT_FILE)
    stack_doc = read_yaml(catalog.root / f"Pulumi.{stack}.yaml", f"Pulumi.{stack}.yaml")
    result.problems.extend(_keyspace_problems(catalog, project_doc))
    result.problems.extend(_wrangler_problems(catalog))
    result.problems.extend(_other_stack_problems(catalog, stack_doc, result.notes, now))
    return result


def _keyspace_problems(catalog: Catalog, project_doc: YamlDocument) -> Iterator[KvstackError]:
    """Each keyspace a binding (KV) or a store (Redis) names: its file exists and loads as that kind."""
    from kvstack.keyspace import KEYSPACE_DIR, available_keyspaces, load_keyspace
    from kvstack.keyspace.redis import load_redis_keyspace

    value: list[str | int] = ["config", CATALOG_KEY, "value"]
    uses: list[tuple[str, str, list[str | int], Callable[[Path, str], object]]] = [
        (b.keyspace, f"{app.name}.{b.name}", [*value, "apps", app.name, "bindings", b.name, "keyspace"], load_keyspace)
        for app, b in catalog.bindings()
        if b.keyspace is not None
    ]
    uses += [
        (s.keyspace, f"store {s.name}", [*value, "stores", s.name, "keyspace"], load_redis_keyspace)
        for s in catalog.stores
    ]
    checked: set[tuple[str, object]] = set()
    for keyspace, user, where, load in uses:
        relpath = f"{KEYSPACE_DIR}/{keyspace}.yaml"
        if not (catalog.root / relpath).exists() and not (catalog.root / relpath).is_symlink():
            known = ", ".join(available_keyspaces(catalog.root)) or "none"
            yield project_doc.error(
                f"keyspace {keyspace!r} of {user} has no file {relpath}",
                where,
                hint=f"create {relpath} (see schemas/keyspace.schema.json) or use one of: {known}",
            )
            continue
        if (keyspace, load) in checked:
            continue
        checked.add((keyspace, load))
        try:
            load(catalog.root, keyspace)
        except CatalogError as error:
            yield from _flatten(error)


def _wrangler_problems(catalog: Catalog) -> Iterator[KvstackError]:
    from kvstack.render import read_wrangler_data

    for app in catalog.apps:
        if app.wrangler is None:
            continue
        try:
            read_wrangler_data(app.wrangler.path, app.wrangler.format, display=app.wrangler.relpath)
        except WranglerFileError as error:
            yield error


def _other_stack_problems(
    catalog: Catalog, stack_doc: YamlDocument, notes: list[str], now: datetime | None
) -> Iterator[KvstackError]:
    namespaces = 2 * sum(1 for _ in catalog.bindings())
    sharing = [catalog.stack]
    for other in available_stacks(catalog.root):
        if other == catalog.stack:
            continue
        try:
            theirs = load_catalog(catalog.root, other, now=now)
        except CatalogError:
            notes.append(
                f"stack {other} does not load, so its wrangler sections and namespaces were not compared with "
                f"{catalog.stack}'s: run `kvstack validate --stack {other}`"
            )
            continue
        yield from _shared_sections(catalog, theirs, stack_doc)
        if theirs.account_id == catalog.account_id:
            namespaces += 2 * sum(1 for _ in theirs.bindings())
            sharing.append(other)
    if len(sharing) > 1 and namespaces > MAX_NAMESPACES_PER_ACCOUNT:
        yield stack_doc.error(
            f"stacks {', '.join(sharing)} share account {catalog.account_id} and declare {namespaces} namespaces "
            f"together; Cloudflare allows {MAX_NAMESPACES_PER_ACCOUNT} per account",
            ["config", "kvstack:account_id"],
            hint="give the stacks their own accounts, or drop bindings",
        )


def _shared_sections(mine: Catalog, theirs: Catalog, stack_doc: YamlDocument) -> Iterator[KvstackError]:
    for app in mine.apps:
        if app.wrangler is None:
            continue
        for other in theirs.apps:
            if other.wrangler is None or other.wrangler.path != app.wrangler.path:
                continue
            for section in app.wrangler.sections:
                if section not in other.wrangler.sections:
                    continue
                label = "the top level" if section == names.WRANGLER_TOP_SECTION else f"[{section}]"
                listed = "sections" in _stack_app(stack_doc, app.name)
                yield stack_doc.error(
                    f"stacks {mine.stack} and {theirs.stack} both own {label} of {app.wrangler.relpath} "
                    f"(app {app.name}{'' if listed else ': no `sections` given, so the top level'}); "
                    "each render would overwrite the other's namespace ids",
                    ["config", "kvstack:apps", app.name, "sections"],
                    hint=f"give each stack its own section: `sections: [env.{mine.environment}]` under "
                    f"kvstack:apps.{app.name} in Pulumi.{mine.stack}.yaml, and another in Pulumi.{theirs.stack}.yaml",
                )


def _stack_app(doc: YamlDocument, app: str) -> dict[str, object]:
    config = doc.data.get("config") if isinstance(doc.data, dict) else None
    apps = config.get("kvstack:apps") if isinstance(config, dict) else None
    entry = apps.get(app) if isinstance(apps, dict) else None
    return entry if isinstance(entry, dict) else {}
