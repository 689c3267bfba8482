"""Inventory and drift: every namespace of the account classified against what the catalog declares.

Classes, as ``kvstack audit`` prints them:

- ``managed``            its id is declared by an audited stack and its title is the declared one
- ``retitled``           its id is declared by an audited stack, but it carries another title
- ``managed-elsewhere``  another stack's outputs hold its id
- ``adoptable``          its title follows ``<app>-<env>-<BINDING>[_preview]`` (or a stack declares that
                         title) but no stack's outputs hold its id
- ``foreign``            anything else
- ``missing``            declared by an audited stack, absent from the account (no id in the account)

Besides namespaces: orphan twins (a production namespace without its ``_preview``, or the reverse),
namespaces bound by wrangler files, Pages projects or Worker scripts that do not exist (dangling), Worker
scripts binding namespaces no stack declares, and tokens expired or expiring soon.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

from kvstack import names
from kvstack.audit.account import ScriptBindings, TokenState
from kvstack.audit.findings import AuditFinding
from kvstack.catalog import Catalog
from kvstack.cloudflare import Namespace
from kvstack.outputs import Outputs

__all__ = [
    "CONVENTION_RE",
    "Classification",
    "Declared",
    "NamespaceRecord",
    "classify",
    "dangling_in_pages",
    "dangling_in_scripts",
    "dangling_in_wrangler_files",
    "declared_namespaces",
    "token_findings",
]

Classification = Literal["managed", "retitled", "managed-elsewhere", "adoptable", "foreign", "missing"]

# <app>-<env>-<BINDING>[_preview]: the binding is a JS identifier (no '-'), so it is what follows the last
# '-', the environment the segment before it, and the app everything in front.
CONVENTION_RE: Final = re.compile(
    r"^(?P<app>[a-z0-9][a-z0-9-]*)-(?P<env>[a-z0-9]+)-(?P<binding>[A-Za-z_$][A-Za-z0-9_$]*?)(?P<preview>_preview)?$"
)


@dataclass(frozen=True)
class Declared:
    """A namespace a stack declares: its place in the catalog, its title, and its id once created."""

    stack: str
    app: str
    binding: str
    preview: bool
    title: str
    id: str | None


@dataclass(frozen=True)
class NamespaceRecord:
    """One namespace of the inventory (``missing`` ones have the declared id, or None if never created)."""

    id: str | None
    title: str
    classification: Classification
    stack: str | None = None
    app: str | None = None
    binding: str | None = None
    preview: bool = False
    declared_title: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "classification": self.classification,
            "stack": self.stack,
            "app": self.app,
            "binding": self.binding,
            "preview": self.preview,
            "declared_title": self.declared_title,
        }


def declared_namespaces(catalogs: Mapping[str, Catalog], outputs: Mapping[str, Outputs]) -> list[Declared]:
    """Every namespace every stack declares; ids from the stack's outputs (or its `adopt:` entries)."""
    found: list[Declared] = []
    for stack, catalog in catalogs.items():
        created = outputs.get(stack)
        for app, binding in catalog.bindings():
            ids = created.apps[app.name].bindings.get(binding.name) if created and app.name in created.apps else None
            adopt = binding.adopt
            prod_id = ids.id if ids else (adopt.id if adopt else None)
            preview_id = ids.preview_id if ids else (adopt.preview_id if adopt else None)
            found.append(Declared(stack, app.name, binding.name, False, binding.title, prod_id))
            found.append(Declared(stack, app.name, binding.name, True, binding.preview_title, preview_id))
    return found


def classify(
    namespaces: Iterable[Namespace], declared: list[Declared], audited: tuple[str, ...]
) -> tuple[list[NamespaceRecord], list[AuditFinding]]:
    """The account's namespaces (and the missing declared ones) classified, with their drift findings."""
    by_id = {d.id: d for d in declared if d.id}
    by_title = {d.title: d for d in declared}
    records: list[NamespaceRecord] = []
    findings: list[AuditFinding] = []
    present = {ns.id for ns in namespaces}
    titles = {ns.title for ns in namespaces}
    for ns in sorted(namespaces, key=lambda n: n.title):
        record = _classify_one(ns, by_id, by_title, audited)
        records.append(record)
        if record.classification == "retitled":
            findings.append(
                AuditFinding(
                    "retitled",
                    ns.title,
                    f"namespace {ns.id} is declared by stack {record.stack} as {record.declared_title!r}; "
                    f"the account calls it {ns.title!r}. Rename it back, or `pulumi up` will rename it",
                    ns.id,
                    {"declared_title": record.declared_title, "stack": record.stack},
                )
            )
        elif record.classification == "adoptable":
            declared_by = f"stack {record.stack} declares this title, but " if record.stack else ""
            findings.append(
                AuditFinding(
                    "adoptable",
                    ns.title,
                    f"namespace {ns.id} follows the naming convention; {declared_by}no stack's outputs hold its id. "
                    "Adopt it (--import-file and the printed `adopt:` lines) or delete it",
                    ns.id,
                )
            )
        elif record.classification == "foreign":
            findings.append(
                AuditFinding("foreign", ns.title, f"namespace {ns.id} is not kvstack's (no convention title)", ns.id)
            )
        elif record.classification == "managed-elsewhere":
            findings.append(
                AuditFinding("managed-elsewhere", ns.title, f"namespace {ns.id} belongs to stack {record.stack}", ns.id)
            )
    for d in declared:
        # Without an id (the stack's outputs are not readable), only a namespace of that title can stand for it.
        absent = d.title not in titles if d.id is None else d.id not in present
        if d.stack in audited and absent:
            records.append(NamespaceRecord(d.id, d.title, "missing", d.stack, d.app, d.binding, d.preview, d.title))
            where = f"id {d.id}" if d.id else "no id in the outputs"
            findings.append(
                AuditFinding(
                    "missing",
                    d.title,
                    f"stack {d.stack} declares {d.app}.{d.binding}{' (preview)' if d.preview else ''} "
                    f"as {d.title!r} ({where}); the account has no such namespace. Run `pulumi up --stack {d.stack}`",
                    d.id,
                    {"stack": d.stack, "app": d.app, "binding": d.binding, "preview": d.preview},
                )
            )
    findings.extend(_orphan_twins(records))
    return records, findings


def _classify_one(
    ns: Namespace, by_id: Mapping[str, Declared], by_title: Mapping[str, Declared], audited: tuple[str, ...]
) -> NamespaceRecord:
    owner = by_id.get(ns.id)
    if owner is not None:
        if owner.stack not in audited:
            kind: Classification = "managed-elsewhere"
        else:
            kind = "managed" if ns.title == owner.title else "retitled"
        return NamespaceRecord(ns.id, ns.title, kind, owner.stack, owner.app, owner.binding, owner.preview, owner.title)
    named = by_title.get(ns.title)
    if named is not None:
        # A stack declares this title but no stack's outputs hold this id: nobody manages it (yet).
        return NamespaceRecord(
            ns.id, ns.title, "adoptable", named.stack, named.app, named.binding, named.preview, named.title
        )
    match = CONVENTION_RE.match(ns.title)
    if match is not None:
        return NamespaceRecord(
            ns.id,
            ns.title,
            "adoptable",
            app=match["app"],
            binding=match["binding"],
            preview=bool(match["preview"]),
        )
    return NamespaceRecord(ns.id, ns.title, "foreign")


def _orphan_twins(records: list[NamespaceRecord]) -> list[AuditFinding]:
    """Convention namespaces in the account whose twin (production or ``_preview``) is not in the account."""
    titles = {r.title for r in records if r.classification != "missing"}
    findings = []
    for record in records:
        if record.classification in ("missing", "foreign", "retitled") or record.id is None:
            continue
        if not CONVENTION_RE.match(record.title):
            continue
        if record.title.endswith(names.PREVIEW_SUFFIX):
            twin = record.title.removesuffix(names.PREVIEW_SUFFIX)
        else:
            twin = record.title + names.PREVIEW_SUFFIX
        if twin not in titles:
            what = "preview namespace" if record.preview else "production namespace"
            findings.append(
                AuditFinding(
                    "orphan-twin",
                    record.title,
                    f"{what} {record.title!r} ({record.id}) has no twin {twin!r} in the account",
                    record.id,
                    {"twin": twin},
                )
            )
    return findings


def dangling_in_wrangler_files(
    catalogs: Mapping[str, Catalog], audited: tuple[str, ...], base: Path, present: set[str]
) -> list[AuditFinding]:
    """Namespace ids bound by the audited stacks' wrangler files that the account does not have."""
    from kvstack.wranglerfile import read_wrangler_file

    findings: list[AuditFinding] = []
    seen: set[Path] = set()
    for stack in audited:
        for app in catalogs[stack].apps:
            if app.wrangler is None or (base / app.wrangler.relpath) in seen:
                continue
            path = base / app.wrangler.relpath
            seen.add(path)
            if not path.is_file():
                continue
            file = read_wrangler_file(path)
            for section in ("top", *(f"env.{name}" for name in file.envs)):
                for entry in file.kv_bindings(section):
                    for field_name in ("id", "preview_id"):
                        value = entry.get(field_name)
                        if names.is_namespace_id(value) and value not in present:
                            findings.append(
                                AuditFinding(
                                    "dangling-binding",
                                    f"{app.wrangler.relpath} [{section}] {entry.get('binding')}",
                                    f"{path}: section {section}, binding {entry.get('binding')} has {field_name} "
                                    f"{value}, which no namespace of the account has; re-render the file "
                                    "(`kvstack render`) or fix the id",
                                    value,
                                    {"file": str(path), "section": section, "field": field_name},
                                )
                            )
    return findings


def dangling_in_pages(projects: list[dict[str, Any]], present: set[str]) -> list[AuditFinding]:
    """Pages projects binding (production or preview deployments) namespace ids the account does not have."""
    findings = []
    for project in projects:
        configs = project.get("deployment_configs") or {}
        for environment in ("production", "preview"):
            bindings = (configs.get(environment) or {}).get("kv_namespaces") or {}
            for binding, ref in sorted(bindings.items()):
                namespace_id = (ref or {}).get("namespace_id")
                if namespace_id and namespace_id not in present:
                    findings.append(
                        AuditFinding(
                            "dangling-binding",
                            f"Pages {project.get('name')} [{environment}] {binding}",
                            f"Pages project {project.get('name')} binds {binding} ({environment}) to namespace "
                            f"{namespace_id}, which the account does not have",
                            namespace_id,
                        )
                    )
    return findings


def dangling_in_scripts(scripts: list[ScriptBindings], present: set[str], declared_ids: set[str]) -> list[AuditFinding]:
    """Worker scripts binding namespaces that do not exist, or that no stack of the catalog declares."""
    findings = []
    for script in scripts:
        for binding, namespace_id in sorted(script.namespaces.items()):
            if namespace_id not in present:
                findings.append(
                    AuditFinding(
                        "dangling-binding",
                        f"Worker {script.script} {binding}",
                        f"Worker {script.script} binds {binding} to namespace {namespace_id}, "
                        "which the account does not have",
                        namespace_id,
                    )
                )
            elif namespace_id not in declared_ids:
                findings.append(
                    AuditFinding(
                        "undeclared-script-binding",
                        f"Worker {script.script} {binding}",
                        f"Worker {script.script} binds {binding} to namespace {namespace_id}, which no stack declares",
                        namespace_id,
                    )
                )
    return findings


def token_findings(
    outputs: Outputs, live: Mapping[str, TokenState], expiry_days: int, now: datetime | None = None
) -> list[AuditFinding]:
    """Tokens of the stack that are rejected, expired or expire within ``expiry_days`` (live state when known)."""
    moment = now or datetime.now(UTC)
    findings = []
    for key, token in sorted(outputs.tokens.items()):
        state = live.get(key) or TokenState(None, "unread")
        label = f"token {key} ({token.id})"
        if state.rejected is not None:
            findings.append(
                AuditFinding(
                    "token-rejected",
                    token.name,
                    f"{label}: Cloudflare refuses it ({state.rejected}); it is expired, revoked or rolled. "
                    f"Roll it with `pulumi up --stack {outputs.stack}`",
                    details={"expires_on": token.expires_on},
                )
            )
            continue
        if state.details is None:
            findings.append(
                AuditFinding(
                    "token-unverified",
                    token.name,
                    f"{label}: the outputs carry no value to verify it and the audit token may not read it; "
                    f"judged by the outputs' expiry {token.expires_on or '(never: declared `expires: never`)'}",
                )
            )
        details = state.details or {}
        expires = details.get("expires_on") or token.expires_on
        status = details.get("status")
        when = _parse_time(str(expires)) if expires else None
        if status == "expired" or (when is not None and when <= moment):
            findings.append(
                AuditFinding(
                    "token-expired",
                    token.name,
                    f"{label} expired on {expires}; roll it with `pulumi up --stack {outputs.stack}`",
                    details={"expires_on": expires, "status": status},
                )
            )
        elif status == "disabled":
            findings.append(
                AuditFinding(
                    "token-rejected",
                    token.name,
                    f"{label} is disabled in the account; enable it "
                    f"or roll it with `pulumi up --stack {outputs.stack}`",
                    details={"expires_on": expires, "status": status},
                )
            )
        elif when is not None and when <= moment + timedelta(days=expiry_days):
            findings.append(
                AuditFinding(
                    "token-expiring",
                    token.name,
                    f"{label} expires on {expires}, within {expiry_days} days",
                    details={"expires_on": expires},
                )
            )
    return findings


def _parse_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
