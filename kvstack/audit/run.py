"""One audit run: read the account, classify, scan the keyspaces, read usage, and gather the findings.

The run only reads. It spends, per namespace, max(1, ⌈keys/1000⌉) list requests plus one bulk get per
100 values read, plus ⌈namespaces/100⌉ namespace pages and a few requests for projects, scripts, tokens
and analytics; the adapter counts every request (``api.budget``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from kvstack.audit import account
from kvstack.audit.findings import AuditFinding
from kvstack.audit.inventory import (
    NamespaceRecord,
    classify,
    dangling_in_pages,
    dangling_in_scripts,
    dangling_in_wrangler_files,
    declared_namespaces,
    token_findings,
)
from kvstack.audit.keyspace import KeyspaceStats, scan_statistics
from kvstack.audit.stores import PrefixStats, audit_store
from kvstack.audit.target import AuditTarget
from kvstack.audit.usage import UsageReport, read_usage
from kvstack.catalog import Catalog
from kvstack.keyspace import Keyspace, load_keyspaces

__all__ = ["AuditResult", "Progress", "run_audit"]


class Progress(Protocol):
    """What a run tells its caller while it scans (the CLI draws a bar)."""

    def started(self, total: int) -> None:
        """``total`` namespaces are about to be scanned."""

    def scanned(self, title: str) -> None:
        """One namespace is done."""


class _Silent:
    def started(self, total: int) -> None:
        pass

    def scanned(self, title: str) -> None:
        pass


@dataclass
class AuditResult:
    """Everything one run saw and found."""

    target: AuditTarget
    namespaces: list[NamespaceRecord]
    statistics: dict[str, KeyspaceStats]
    usage: UsageReport | None
    findings: list[AuditFinding]
    started: float
    finished: float = 0.0
    budget: dict[str, int] = field(default_factory=dict)
    # Upstash stores, per environment prefix in use (kvstack.audit.stores).
    stores: list[PrefixStats] = field(default_factory=list)


def run_audit(target: AuditTarget, progress: Progress | None = None) -> AuditResult:
    """Audit ``target``; only CloudflareErrors (exit 2) escape, everything found is a finding."""
    listener: Progress = progress or _Silent()
    options = target.options
    started = time.time()
    api = target.api
    namespaces = api.list_namespaces()
    present = {ns.id for ns in namespaces}
    declared = declared_namespaces(target.catalogs, target.outputs)
    records, findings = classify(namespaces, declared, target.audited)
    findings += dangling_in_wrangler_files(target.catalogs, target.audited, target.wrangler_base, present)
    findings += dangling_in_pages(api.list_pages_projects(), present)
    declared_ids = {d.id for d in declared if d.id}
    findings += dangling_in_scripts(account.list_script_bindings(api), present, declared_ids)
    for stack in target.audited:
        outputs = target.outputs.get(stack)
        if outputs is not None:
            findings += token_findings(outputs, account.token_states(api, outputs), options.expiry_days)
    findings += [
        AuditFinding(
            "stack-unaudited",
            f"stack {stack}",
            f"stack {stack} is not fully audited: {why}",
            details={"stack": stack},
        )
        for stack, why in sorted(target.unread.items())
    ]

    keyspaces = _keyspaces_by_namespace(target, records)
    scanned = [r for r in records if r.classification != "missing" and r.id]
    listener.started(len(scanned))
    statistics: dict[str, KeyspaceStats] = {}
    sample = None if options.deep else options.sample

    def scan(record: NamespaceRecord) -> KeyspaceStats:
        assert record.id is not None
        stats = scan_statistics(api, record.id, record.title, keyspaces.get(record.id), sample=sample)
        listener.scanned(record.title)
        return stats

    with ThreadPoolExecutor(max_workers=max(1, min(4, options.concurrency)), thread_name_prefix="audit") as pool:
        for stats in pool.map(scan, scanned):
            statistics[stats.namespace_id] = stats
            findings += stats.findings()

    usage = read_usage(api, scanned, options.days)
    findings += usage.findings(records, statistics, declared_ids)
    store_stats, store_findings = _audit_stores(target)
    findings += store_findings
    findings.sort(key=_finding_order)
    return AuditResult(
        target=target,
        namespaces=records,
        statistics=statistics,
        usage=usage,
        findings=findings,
        started=started,
        finished=time.time(),
        budget=api.budget.snapshot(),
        stores=store_stats,
    )


def _audit_stores(target: AuditTarget) -> tuple[list[PrefixStats], list[AuditFinding]]:
    """Each store of the audited stacks, read once with its read-only token (the database is shared)."""
    from kvstack.keyspace.redis import load_redis_keyspace
    from kvstack.upstash import UpstashRest

    stats: list[PrefixStats] = []
    findings: list[AuditFinding] = []
    seen: set[str] = set()
    for stack in target.audited:
        outputs = target.outputs.get(stack)
        for store in target.catalogs[stack].stores:
            found = outputs.stores.get(store.name) if outputs is not None else None
            if store.name in seen or found is None or found.rest_url is None or found.read_only_token is None:
                continue
            seen.add(store.name)
            prefixes = {c.store(store.name).prefix for c in target.catalogs.values() if _has(c, store.name)}
            if store.test_prefix:
                prefixes.add(store.test_prefix)
            keyspace = load_redis_keyspace(target.options.root, store.keyspace)
            with UpstashRest(found.rest_url, found.read_only_token) as client:
                more, found_here = audit_store(client, store.name, keyspace, tuple(sorted(prefixes)))
            stats += more
            findings += found_here
    return stats, findings


def _has(catalog: Catalog, store: str) -> bool:
    return any(s.name == store for s in catalog.stores)


def _finding_order(finding: AuditFinding) -> tuple[int, str, str, str]:
    from kvstack.audit.findings import SEVERITIES

    return (-SEVERITIES.index(finding.severity), finding.kind, finding.subject, finding.message)


def _keyspaces_by_namespace(target: AuditTarget, records: list[NamespaceRecord]) -> dict[str, Keyspace]:
    """The keyspace each classified namespace should follow: its binding's, in the catalog that declares it."""
    wanted: dict[str, str] = {}
    for record in records:
        if record.id is None or record.app is None or record.binding is None:
            continue
        name = _keyspace_name(target, record)
        if name:
            wanted[record.id] = name
    loaded = load_keyspaces(target.options.root, wanted.values())
    return {namespace_id: loaded[name] for namespace_id, name in wanted.items()}


def _keyspace_name(target: AuditTarget, record: NamespaceRecord) -> str | None:
    stacks: list[Any] = [target.catalogs[record.stack]] if record.stack in target.catalogs else []
    stacks += list(target.catalogs.values())  # adoptable: any stack's app of that name and binding
    for catalog in stacks:
        for app, binding in catalog.bindings():
            if app.name == record.app and binding.name == record.binding:
                keyspace: str | None = binding.keyspace
                return keyspace
    return None
