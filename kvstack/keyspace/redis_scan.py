"""Scanning an Upstash store: SCAN pages with a large COUNT, types, TTLs and values read in pipelines.

Never ``KEYS`` (it blocks the server and Upstash's read-only token refuses it) and never one round trip
per key: one ``SCAN <cursor> MATCH <prefix>:* COUNT 10000`` per page, then for every 1,000 keys of the
page one pipeline of ``TYPE``, ``PTTL`` and the read of the pattern's declared type (``GET``, ``HGETALL``,
``LRANGE``, ``SMEMBERS``, ``ZRANGE``). A key of another type answers that read with ``WRONGTYPE``; its
``TYPE`` says what it is. What a scan read is kept (``values``) for invariants across keys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kvstack.keyspace.findings import Finding
from kvstack.keyspace.redis import RedisKeyspace, RedisPattern

__all__ = ["SCAN_COUNT", "PrefixCensus", "RedisScanReport", "census_prefixes", "scan_store"]

# Keys examined per SCAN page. A page of MATCH <prefix>:* returns only that prefix's share, so with three
# prefixes 10,000 keep the round trips at ~1.3 per 1,000 keys of the prefix (COUNT 1000 would cost 4).
SCAN_COUNT = 10_000
PIPELINE_KEYS = 1_000
_READ = {"string": ("GET",), "hash": ("HGETALL",), "list": ("LRANGE", 0, -1), "set": ("SMEMBERS",)}
_READ["zset"] = ("ZRANGE", 0, -1)


class RestClient(Protocol):
    round_trips: int

    def command(self, *args: str | int | float) -> Any: ...

    def pipeline(self, commands: Sequence[Sequence[str | int | float]]) -> list[Any]: ...


@dataclass
class RedisScanReport:
    """What one prefix of a store holds, and what is wrong with it."""

    prefix: str
    keys: int = 0
    by_pattern: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    # key (with its prefix) → value as read: str for strings, {field: value} for hashes, lists otherwise.
    values: dict[str, Any] = field(default_factory=dict)
    scan_pages: int = 0
    pipelines: int = 0

    @property
    def round_trips(self) -> int:
        return self.scan_pages + self.pipelines


def _pages(client: RestClient, match: str, count: int) -> Iterator[list[str]]:
    cursor = "0"
    while True:
        reply = client.command("SCAN", cursor, "MATCH", match, "COUNT", count)
        cursor, keys = str(reply[0]), list(reply[1])
        yield keys
        if cursor == "0":
            return


def scan_store(
    client: RestClient, keyspace: RedisKeyspace, prefix: str, *, count: int = SCAN_COUNT, batch: int = PIPELINE_KEYS
) -> RedisScanReport:
    """Every key under ``<prefix>:``, judged against ``keyspace``: pattern, type, TTL, value."""
    report = RedisScanReport(prefix=prefix)
    for page in _pages(client, f"{prefix}:*", count):
        report.scan_pages += 1
        for start in range(0, len(page), batch):
            _judge(client, keyspace, report, page[start : start + batch])
    return report


def _judge(client: RestClient, keyspace: RedisKeyspace, report: RedisScanReport, keys: list[str]) -> None:
    matches = [keyspace.match(key[len(report.prefix) + 1 :]) for key in keys]
    commands: list[Sequence[str | int]] = []
    for key, match in zip(keys, matches, strict=True):
        commands += [("TYPE", key), ("PTTL", key)]
        if match is not None:
            name, *rest = _READ[match.pattern.type]
            commands.append((name, key, *rest))
    replies = iter(client.pipeline(commands))
    report.pipelines += 1
    for key, match in zip(keys, matches, strict=True):
        found_type, pttl = next(replies), next(replies)
        value = next(replies) if match is not None else None
        if found_type == "none":  # deleted between the SCAN page and the pipeline
            continue
        report.keys += 1
        if match is None:
            if not keyspace.unknown_keys_allowed:
                report.findings.append(
                    Finding("unknown-key", key, None, f"a {found_type} matching no pattern of {keyspace.name}")
                )
            continue
        pattern = match.pattern
        report.by_pattern[pattern.name] += 1
        if not match.ok:
            report.findings.append(
                Finding("bad-placeholder", key, pattern.name, "; ".join(match.placeholders.problems()))
            )
        if found_type != pattern.type:
            report.findings.append(
                Finding("wrong-type", key, pattern.name, f"expected a {pattern.type}; found a {found_type}")
            )
            continue
        report.findings += _ttl_findings(pattern, key, pttl)
        report.values[key] = _shaped(pattern, value)
        report.findings += _value_findings(pattern, key, report.values[key])


def _shaped(pattern: RedisPattern, value: Any) -> Any:
    if pattern.type == "hash" and isinstance(value, list):
        return dict(zip(value[::2], value[1::2], strict=True))
    return value


def _ttl_findings(pattern: RedisPattern, key: str, pttl: Any) -> list[Finding]:
    if not isinstance(pttl, int) or pttl == -2:
        return []
    ttl, policy = pttl / 1000, pattern.ttl
    if pttl == -1:
        if policy.policy == "required":
            return [Finding("missing-ttl", key, pattern.name, f"expected {policy.describe()}; found no TTL")]
        return []
    if policy.policy == "forbidden":
        return [Finding("unexpected-ttl", key, pattern.name, f"expected no TTL; found {ttl:.0f} s")]
    if policy.max is not None and ttl > policy.max:
        return [Finding("ttl-too-long", key, pattern.name, f"expected at most {policy.max} s; found {ttl:.0f} s")]
    return []


def _value_findings(pattern: RedisPattern, key: str, value: Any) -> list[Finding]:
    if pattern.type == "hash":
        return [f for name, text in sorted(value.items()) for f in pattern.check_field(key, name, text)]
    if pattern.value is None:
        return []
    if pattern.type == "string":
        return pattern.check_string(key, str(value))
    return [f for member in value for f in pattern.check_string(key, str(member))]


@dataclass
class PrefixCensus:
    """How many keys of the whole database sit under each prefix, and the keys under none of the known ones."""

    counts: Counter[str] = field(default_factory=Counter)
    unprefixed: list[str] = field(default_factory=list)
    scan_pages: int = 0


def census_prefixes(client: RestClient, prefixes: Sequence[str], *, count: int = SCAN_COUNT) -> PrefixCensus:
    """One pass of SCAN over every key (names only): keys per prefix, and keys under no known prefix."""
    census = PrefixCensus()
    known = set(prefixes)
    for page in _pages(client, "*", count):
        census.scan_pages += 1
        for key in page:
            head, colon, _ = key.partition(":")
            if colon and head in known:
                census.counts[head] += 1
            else:
                census.counts[head if colon else ""] += 1
                census.unprefixed.append(key)
    return census
