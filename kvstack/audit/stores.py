"""What an Upstash store really holds, per environment prefix: keys per pattern, unknown keys, TTLs, memory.

One census of the whole database (SCAN names only, COUNT 10000) finds every prefix in use; then each
prefix is read in pipelines of ``TYPE`` + ``PTTL`` per key (1,000 keys a pipeline), with ``MEMORY USAGE``
for a sample of each pattern's keys (the first ``sample`` seen). Memory per pattern is the sample's mean
times the pattern's key count (labelled as an estimate). Everything reads with the read-only token.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kvstack.audit.findings import AuditFinding
from kvstack.keyspace.redis import RedisKeyspace
from kvstack.keyspace.redis_scan import PIPELINE_KEYS, SCAN_COUNT, RestClient, census_prefixes

__all__ = ["PrefixStats", "audit_store"]

DEFAULT_MEMORY_SAMPLE = 20


@dataclass
class PrefixStats:
    """One environment prefix of a store."""

    store: str
    prefix: str
    declared: bool
    keys: int = 0
    by_pattern: Counter[str] = field(default_factory=Counter)
    unknown: int = 0
    wrong_type: int = 0
    ttl: Counter[str] = field(default_factory=Counter)
    memory_sampled: dict[str, list[int]] = field(default_factory=dict)

    def memory_estimate(self) -> dict[str, int]:
        """Bytes per pattern: the sampled keys' mean × the pattern's key count."""
        return {
            name: round(sum(sizes) / len(sizes) * self.by_pattern[name])
            for name, sizes in self.memory_sampled.items()
            if sizes
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "prefix": self.prefix,
            "declared": self.declared,
            "keys": self.keys,
            "by_pattern": dict(sorted(self.by_pattern.items())),
            "unknown_keys": self.unknown,
            "wrong_type": self.wrong_type,
            "ttl": {bucket: self.ttl.get(bucket, 0) for bucket in ("none", "under_1h", "under_1d", "longer")},
            "memory_bytes_estimated": self.memory_estimate(),
            "memory_keys_sampled": {name: len(sizes) for name, sizes in sorted(self.memory_sampled.items())},
        }


def _bucket(pttl: Any) -> str:
    if not isinstance(pttl, int) or pttl < 0:
        return "none"
    if pttl < 3_600_000:
        return "under_1h"
    return "under_1d" if pttl < 86_400_000 else "longer"


def audit_store(
    client: RestClient,
    store: str,
    keyspace: RedisKeyspace,
    declared_prefixes: tuple[str, ...],
    *,
    sample: int = DEFAULT_MEMORY_SAMPLE,
) -> tuple[list[PrefixStats], list[AuditFinding]]:
    """Statistics of every prefix in use (declared or not) and the findings about them."""
    census = census_prefixes(client, declared_prefixes)
    stats: list[PrefixStats] = []
    findings: list[AuditFinding] = []
    unprefixed = [key for key in census.unprefixed if ":" not in key]
    for prefix in sorted(p for p in census.counts if p):
        entry = PrefixStats(store=store, prefix=prefix, declared=prefix in declared_prefixes)
        _read_prefix(client, keyspace, entry, sample)
        stats.append(entry)
        subject = f"{store} {prefix}:"
        if not entry.declared:
            findings.append(
                AuditFinding(
                    "undeclared-prefix",
                    subject,
                    f"{entry.keys} key(s) under {prefix}:, a prefix no stack declares "
                    f"(declared: {', '.join(declared_prefixes)})",
                )
            )
        if entry.unknown or entry.wrong_type:
            findings.append(
                AuditFinding(
                    "unknown-keys",
                    subject,
                    f"{entry.unknown} key(s) match no pattern of {keyspace.name} and {entry.wrong_type} have another "
                    "Redis type than their pattern declares",
                )
            )
    if unprefixed:
        findings.append(
            AuditFinding(
                "undeclared-prefix",
                f"{store} (no prefix)",
                f"{len(unprefixed)} key(s) without any environment prefix, e.g. {unprefixed[0]!r}",
            )
        )
    return stats, findings


def _read_prefix(client: RestClient, keyspace: RedisKeyspace, entry: PrefixStats, sample: int) -> None:
    cursor = "0"
    while True:
        reply = client.command("SCAN", cursor, "MATCH", f"{entry.prefix}:*", "COUNT", SCAN_COUNT)
        cursor, page = str(reply[0]), list(reply[1])
        for start in range(0, len(page), PIPELINE_KEYS):
            _read_batch(client, keyspace, entry, page[start : start + PIPELINE_KEYS], sample)
        if cursor == "0":
            return


def _read_batch(client: RestClient, keyspace: RedisKeyspace, entry: PrefixStats, keys: list[str], sample: int) -> None:
    matches = [keyspace.match(key[len(entry.prefix) + 1 :]) for key in keys]
    commands: list[tuple[str | int, ...]] = []
    measured: list[bool] = []
    planned: Counter[str] = Counter()
    for key, match in zip(keys, matches, strict=True):
        name = match.pattern.name if match is not None else ""
        measure = bool(name) and len(entry.memory_sampled.get(name, [])) + planned[name] < sample
        planned[name] += measure
        measured.append(measure)
        commands += [("TYPE", key), ("PTTL", key)] + ([("MEMORY", "USAGE", key, "SAMPLES", "0")] if measure else [])
    replies = iter(client.pipeline(commands))
    for match, measure in zip(matches, measured, strict=True):
        found_type, pttl = next(replies), next(replies)
        size = next(replies) if measure else None
        if found_type == "none":
            continue
        entry.keys += 1
        entry.ttl[_bucket(pttl)] += 1
        if match is None:
            entry.unknown += 1
            continue
        name = match.pattern.name
        entry.by_pattern[name] += 1
        if found_type != match.pattern.type:
            entry.wrong_type += 1
        if isinstance(size, int):
            entry.memory_sampled.setdefault(name, []).append(size)
