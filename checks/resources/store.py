"""An Upstash store as the checks see it: its keyspace scan, its prefix census, its two tokens, a smoke flow.

Everything reads with the read-only token, which the store's operators want used for monitoring; only
the smoke flow writes, with the read/write token, under the store's test prefix with test ids and a TTL.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from kvstack.keyspace.findings import Finding
from kvstack.keyspace.redis import RedisKeyspace
from kvstack.keyspace.redis_scan import PrefixCensus, RedisScanReport, census_prefixes, scan_store
from kvstack.outputs import StoreOutputs
from kvstack.stores import Store
from kvstack.upstash import ReplyError, UpstashError, UpstashRest

__all__ = ["SMOKE_COMPOSITE", "SMOKE_SOURCE", "SMOKE_TTL", "StoreResource", "declared_prefixes"]

# The seed's integration tests write under test: with these high system ids and delete them afterwards.
SMOKE_SOURCE = 99999
SMOKE_COMPOSITE = 99998
SMOKE_TTL = 300


def declared_prefixes(root: Path, store: Store) -> tuple[str, ...]:
    """The prefixes of ``store`` over every stack of the project, and its test prefix."""
    from kvstack.catalog import available_stacks, load_catalog
    from kvstack.errors import KvstackError

    found = {store.prefix}
    for stack in available_stacks(root):
        # A stack whose file does not load declares nothing: keys under its prefix are then reported.
        with contextlib.suppress(KvstackError, KeyError):
            found.add(load_catalog(root, stack).store(store.name).prefix)
    if store.test_prefix:
        found.add(store.test_prefix)
    return tuple(sorted(found))


@dataclass
class StoreResource:
    store: Store
    outputs: StoreOutputs | None
    keyspace: RedisKeyspace
    # Every prefix some stack declares (and the test prefix): keys under any other are not isolated.
    declared_prefixes: tuple[str, ...]
    run_id: str
    # The environment prefix this resource scans: the stack's own, or another stack's (the database is shared).
    prefix: str = ""
    deadline: float | None = None
    # Where the store's app answers (its flows drive it), when the target knows it.
    app_url: str | None = None
    clients: list[UpstashRest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.prefix = self.prefix or self.store.prefix

    @property
    def app(self) -> str:
        return self.store.app

    @property
    def label(self) -> str:
        return f"{self.store.name} ({self.prefix}:)"

    def _client(self, field_name: str) -> UpstashRest:
        outputs = self.outputs
        if outputs is None:
            raise AssertionError(
                f"store {self.store.name}: expected it in the outputs; found none "
                "(run `pulumi up` or `kvstack local up`)"
            )
        url, token = outputs.rest_url, getattr(outputs, field_name)
        if url is None or token is None:
            missing = [f for f, v in (("rest_url", url), (field_name, token)) if v is None]
            keys = ", ".join(self.store.secret_keys[f] for f in missing)
            raise AssertionError(
                f"store {self.store.name}: expected its {' and '.join(missing)} in the outputs; found none "
                f"(set {keys} with `pulumi config set --secret`, run `pulumi up`, read outputs with secrets)"
            )
        client = UpstashRest(url, token, deadline=self.deadline)
        self.clients.append(client)
        return client

    @cached_property
    def reader(self) -> UpstashRest:
        """The read-only token's client: every scan uses it."""
        return self._client("read_only_token")

    @cached_property
    def writer(self) -> UpstashRest:
        return self._client("token")

    @cached_property
    def scan(self) -> RedisScanReport:
        return scan_store(self.reader, self.keyspace, self.prefix)

    @cached_property
    def census(self) -> PrefixCensus:
        return census_prefixes(self.reader, self.declared_prefixes)

    def isolation_findings(self) -> list[Finding]:
        """Keys under no environment prefix, or under a prefix no stack declares."""
        found = []
        for key in self.census.unprefixed:
            head, colon, rest = key.partition(":")
            fits = self.keyspace.match(key)
            if fits is not None:
                found.append(
                    Finding(
                        "unprefixed-key", key, fits.pattern.name, "a key of the keyspace without an environment prefix"
                    )
                )
            elif colon and self.keyspace.match(rest) is not None:
                found.append(
                    Finding(
                        "undeclared-prefix",
                        key,
                        None,
                        f"prefix {head!r} is declared by no stack (declared: {', '.join(self.declared_prefixes)})",
                    )
                )
            else:
                found.append(Finding("unprefixed-key", key, None, "a key under no declared environment prefix"))
        return found

    def fan_out_gaps(self, values: dict[str, Any] | None = None, prefix: str | None = None) -> list[str]:
        """Composites listed in a source's registry that lack (or hold an older) latest point of the source."""
        values = self.scan.values if values is None else values
        prefix = prefix or self.prefix
        gaps = []
        registry = self.keyspace.pattern("subscriptions-system").key
        latest = self.keyspace.pattern("latest-system").key
        for key, raw in sorted(values.items()):
            fitted = registry.match(key[len(prefix) + 1 :])
            if fitted is None or not fitted.ok:
                continue
            try:
                composites = json.loads(raw)
            except (TypeError, ValueError):
                continue  # not a registry at all: the keyspace check reports it
            if not isinstance(composites, list):
                continue
            source_id = fitted.values["systemId"]
            source = values.get(f"{prefix}:{latest.example(systemId=source_id)}") or {}
            for composite in composites:
                if not isinstance(composite, int) or isinstance(composite, bool):
                    continue
                held = values.get(f"{prefix}:{latest.example(systemId=str(composite))}") or {}
                for point, text in sorted(source.items()):
                    if _measured(held.get(point)) < _measured(text):
                        state = "lacks" if point not in held else "holds an older"
                        gaps.append(f"composite {composite} {state} point {point!r} of source {source_id}")
        return gaps

    def write_with_read_only_token(self) -> str | None:
        """Try a write with the read-only token: None when refused (as it must be), else what happened."""
        key = self.store.key(f"kvstack-readonly-probe:{self.run_id}", prefix=self.store.test_prefix)
        try:
            self.reader.command("SET", key, "probe", "EX", 60)
        except UpstashError as error:
            if "NOPERM" in error.message or "READONLY" in error.message or "permission" in error.message.lower():
                return None
            raise
        self.writer.command("DEL", key)
        return f"SET {key} succeeded with the read-only token"

    def residue(self) -> list[str]:
        """Keys under the test prefix: integration tests and smoke flows delete theirs, so none should remain."""
        if self.store.test_prefix is None:
            return []
        return sorted(key for page in _scan(self.reader, f"{self.store.test_prefix}:*") for key in page)

    def smoke_flow(self) -> list[str]:
        """Write a reading as the app does (registry, source point, fan-out), read it back, delete it.

        Returns what went wrong; the keys are deleted whatever happens, then the test prefix is scanned
        for them (0 residue).
        """
        assert self.store.test_prefix is not None
        prefix = self.store.test_prefix
        latest = self.keyspace.pattern("latest-system").key
        registry = self.store.key(
            self.keyspace.pattern("subscriptions-system").key.example(systemId=str(SMOKE_SOURCE)), prefix=prefix
        )
        source = self.store.key(latest.example(systemId=str(SMOKE_SOURCE)), prefix=prefix)
        composite = self.store.key(latest.example(systemId=str(SMOKE_COMPOSITE)), prefix=prefix)
        point = f"kvstack.smoke.{self.run_id}/power"
        now = int(time.time() * 1000)
        reading = json.dumps({"value": 1.5, "measurementTimeMs": now, "receivedTimeMs": now, "metricUnit": "kW"})
        keys = (registry, source, composite)
        problems: list[str] = []
        try:
            answers = self.writer.pipeline(
                [
                    ("SET", registry, json.dumps([SMOKE_COMPOSITE]), "EX", SMOKE_TTL),
                    ("HSET", source, point, reading),
                    ("EXPIRE", source, SMOKE_TTL),
                    ("HSET", composite, point, reading),
                    ("EXPIRE", composite, SMOKE_TTL),
                ]
            )
            problems += [f"write failed: {a.message}" for a in answers if isinstance(a, ReplyError)]
            read = self.reader.pipeline([("GET", registry), ("HGETALL", source), ("HGETALL", composite)])
            values = {registry: read[0], source: _hash(read[1]), composite: _hash(read[2])}
            problems += [f"read back {k}: {v}" for k, v in values.items() if isinstance(v, ReplyError) or not v]
            for key, value in values.items():
                fitted = self.keyspace.match(key[len(prefix) + 1 :])
                if fitted is None or isinstance(value, ReplyError):
                    continue
                findings = (
                    [f for name, text in value.items() for f in fitted.pattern.check_field(key, name, text)]
                    if isinstance(value, dict)
                    else fitted.pattern.check_string(key, str(value))
                )
                problems += [str(f) for f in findings]
            problems += self.fan_out_gaps(values, prefix)
        finally:
            self.writer.command("DEL", *keys)
        left = [key for key in self.residue() if key in keys]
        problems += [f"smoke key {key} is still there after the flow deleted it" for key in left]
        return problems

    def close(self) -> None:
        for client in self.clients:
            client.close()


def _scan(client: UpstashRest, match: str) -> list[list[str]]:
    pages, cursor = [], "0"
    while True:
        reply = client.command("SCAN", cursor, "MATCH", match, "COUNT", 10_000)
        cursor = str(reply[0])
        pages.append(list(reply[1]))
        if cursor == "0":
            return pages


def _hash(value: Any) -> Any:
    return dict(zip(value[::2], value[1::2], strict=True)) if isinstance(value, list) else value


def _measured(text: Any) -> int:
    try:
        value = json.loads(text)["measurementTimeMs"]
    except (TypeError, ValueError, KeyError):
        return -1
    return value if isinstance(value, int) else -1
