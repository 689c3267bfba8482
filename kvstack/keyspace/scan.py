"""Scanning a namespace against its keyspace: every key listed, a sample (or all) of the values read.

Listing is cheap (1,000 keys per request) so every key is classified and its TTL and limits checked;
values cost one bulk-get request per 100 keys, so by default up to ``sample`` values per pattern are
read, chosen by a hash of the key (the same keys every run, spread across the key space). ``deep``
reads them all, with reads starting while later pages are still being listed.

The scan talks to Cloudflare only through :class:`KeySource`, which the adapter
(:mod:`kvstack.cloudflare`) implements with bounded concurrency and one shared rate limiter.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from kvstack.keyspace.findings import Finding
from kvstack.keyspace.limits import BULK_GET_MAX_KEYS, check_key_limits
from kvstack.keyspace.model import Keyspace
from kvstack.keyspace.ttl import DEFAULT_CLOCK_TOLERANCE, check_expiration
from kvstack.keyspace.values import check_value

__all__ = ["DEFAULT_SAMPLE", "KeySource", "ListedKey", "PatternStats", "ScanReport", "scan_namespace"]

DEFAULT_SAMPLE = 100

_ABSENT = object()


@dataclass(frozen=True)
class ListedKey:
    """A key as key listing returns it: no value, its expiration (unix seconds) and metadata if any."""

    name: str
    expiration: float | None = None
    metadata: object = _ABSENT

    @property
    def has_metadata(self) -> bool:
        return self.metadata is not _ABSENT


class KeySource(Protocol):
    """What a scan needs from Cloudflare."""

    def list_key_pages(self, namespace_id: str) -> Iterator[Sequence[ListedKey]]:
        """Every key of the namespace, page by page (a page may be empty before the end)."""
        ...

    def submit_bulk_get(self, namespace_id: str, keys: Sequence[str]) -> Future[Mapping[str, str | None]]:
        """Start reading up to 100 values as text; None for a key that no longer exists."""
        ...


@dataclass
class PatternStats:
    keys: int = 0
    values_read: int = 0
    smoke: int = 0


@dataclass
class ScanReport:
    """What a scan saw and found in one namespace."""

    namespace_id: str
    keyspace: str
    keys: int = 0
    unknown: int = 0
    values_read: int = 0
    vanished: int = 0
    patterns: dict[str, PatternStats] = field(default_factory=dict)
    smoke_keys: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def counts_by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.kind] = counts.get(finding.kind, 0) + 1
        return counts


def _hash(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()


class _Reader:
    """Bulk reads in flight, 100 keys per request; results validated as they arrive."""

    def __init__(self, source: KeySource, namespace_id: str, keyspace: Keyspace, report: ScanReport) -> None:
        self.source = source
        self.namespace_id = namespace_id
        self.keyspace = keyspace
        self.report = report
        self.batch: list[tuple[str, str]] = []  # (key, pattern name)
        self.pending: list[tuple[Future[Mapping[str, str | None]], list[tuple[str, str]]]] = []

    def add(self, key: str, pattern: str) -> None:
        self.batch.append((key, pattern))
        if len(self.batch) == BULK_GET_MAX_KEYS:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.pending.append((self.source.submit_bulk_get(self.namespace_id, [k for k, _ in batch]), batch))
        self.collect(wait=False)

    def collect(self, *, wait: bool) -> None:
        still: list[tuple[Future[Mapping[str, str | None]], list[tuple[str, str]]]] = []
        for future, batch in self.pending:
            if wait or future.done():
                self._validate(future.result(), batch)
            else:
                still.append((future, batch))
        self.pending = still

    def _validate(self, values: Mapping[str, str | None], batch: list[tuple[str, str]]) -> None:
        for key, pattern_name in batch:
            value = values.get(key)
            if value is None:
                # Deleted or expired between listing and reading: nothing to validate.
                self.report.vanished += 1
                continue
            self.report.values_read += 1
            self.report.patterns[pattern_name].values_read += 1
            self.report.findings.extend(check_value(self.keyspace.pattern(pattern_name), key, value))


def scan_namespace(
    source: KeySource,
    namespace_id: str,
    keyspace: Keyspace,
    *,
    sample: int | None = DEFAULT_SAMPLE,
    now: float | None = None,
    clock_tolerance: float = DEFAULT_CLOCK_TOLERANCE,
) -> ScanReport:
    """Scan ``namespace_id`` against ``keyspace``; ``sample=None`` reads every value (deep)."""
    report = ScanReport(namespace_id, keyspace.name, patterns={p.name: PatternStats() for p in keyspace.patterns})
    reader = _Reader(source, namespace_id, keyspace, report)
    # Per pattern, the `sample` keys with the smallest hashes: a max-heap of (negated hash, key).
    chosen: dict[str, list[tuple[bytes, str]]] = {p.name: [] for p in keyspace.patterns}
    clock = time.time() if now is None else now
    for page in source.list_key_pages(namespace_id):
        for listed in page:
            report.keys += 1
            _classify(listed, keyspace, report, reader, chosen, sample, clock, clock_tolerance)
        if sample is None:
            reader.flush()
    if sample is not None:
        for pattern_name, heap in chosen.items():
            for _, key in sorted(heap, reverse=True):
                reader.add(key, pattern_name)
    reader.flush()
    reader.collect(wait=True)
    report.findings.sort(key=lambda f: (f.key, f.kind))
    report.smoke_keys.sort()
    return report


def _classify(
    listed: ListedKey,
    keyspace: Keyspace,
    report: ScanReport,
    reader: _Reader,
    chosen: dict[str, list[tuple[bytes, str]]],
    sample: int | None,
    now: float,
    tolerance: float,
) -> None:
    key = listed.name
    match = keyspace.match(key)
    pattern_name = match.pattern.name if match else None
    limits = (
        check_key_limits(key, listed.metadata, pattern_name)
        if listed.has_metadata
        else check_key_limits(key, pattern=pattern_name)
    )
    report.findings.extend(limits)
    if match is None:
        report.unknown += 1
        if not keyspace.unknown_keys_allowed:
            expected = ", ".join(p.key.text for p in keyspace.patterns)
            report.findings.append(
                Finding(
                    "unknown-key",
                    key,
                    None,
                    f"expected a key matching one of {expected} (keyspace {keyspace.name}); found a key matching none",
                )
            )
        return
    stats = report.patterns[match.pattern.name]
    stats.keys += 1
    if match.smoke:
        stats.smoke += 1
        report.smoke_keys.append(key)
    if not match.ok:
        report.findings.append(
            Finding(
                "bad-placeholder",
                key,
                match.pattern.name,
                f"expected a key like {match.pattern.key.text}; found {'; '.join(match.placeholders.problems())}",
            )
        )
        return
    ttl = check_expiration(match.pattern, key, listed.expiration, now, tolerance)
    if ttl is not None:
        report.findings.append(ttl)
    if match.smoke:
        # Smoke data belongs to a flow in progress; the flows check it themselves.
        return
    if sample is None:
        reader.add(key, match.pattern.name)
        return
    heap = chosen[match.pattern.name]
    entry = (bytes(255 - b for b in _hash(key)), key)  # inverted: heap[0] is the largest hash kept
    if len(heap) < sample:
        heapq.heappush(heap, entry)
    elif sample > 0 and entry > heap[0]:
        heapq.heapreplace(heap, entry)
