"""The audit of an Upstash store on a real valkey-server: per prefix counts, unknown keys, TTLs, memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstack.audit.stores import audit_store
from kvstack.keyspace.redis import load_redis_keyspace
from kvstack.local.upstash import UpstashEndpoint, start_upstash
from kvstack.local.wrangler import stop_process
from kvstack.upstash import UpstashRest

ROOT = Path(__file__).resolve().parents[2]
POINT = json.dumps({"value": 1.0, "measurementTimeMs": 1, "receivedTimeMs": 2, "metricUnit": "W"})

pytestmark = pytest.mark.xdist_group("upstash-audit")


@pytest.fixture(scope="module")
def upstash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstashEndpoint]:
    folder = tmp_path_factory.mktemp("audit-upstash")
    endpoint = start_upstash(folder / "upstash", folder / "logs")
    try:
        with UpstashRest(endpoint.rest_url, endpoint.tokens.read_write) as writer:
            commands: list[tuple[str | int, ...]] = []
            for i in range(30):
                commands.append(("HSET", f"dev:latest:system:{i}", "p", POINT))
            commands += [
                ("SET", "dev:subscriptions:system:1", "[2]"),
                ("SET", "dev:username:ada", "user_1", "EX", 600),
                ("SET", "dev:username:bob", "user_2", "EX", 7200),
                ("SET", "dev:stray", "x"),
                ("SET", "dev:latest:system:99", "not a hash"),
                ("HSET", "prod:latest:system:1", "p", POINT),
                ("SET", "staging:username:eve", "user_3"),
                ("SET", "orphan", "1"),
            ]
            writer.pipeline(commands)
        yield endpoint
    finally:
        for record in reversed(endpoint.processes):
            stop_process(record.pid)


def test_each_prefix_in_use_is_counted_per_pattern_with_ttls_and_sampled_memory(upstash: UpstashEndpoint) -> None:
    keyspace = load_redis_keyspace(ROOT, "energy")
    with UpstashRest(upstash.rest_url, upstash.tokens.read_only) as reader:
        stats, findings = audit_store(reader, "energy-cache", keyspace, ("dev", "prod", "test"), sample=5)
        rounds = reader.round_trips
    by_prefix = {s.prefix: s.to_json() for s in stats}
    assert set(by_prefix) == {"dev", "prod", "staging"}
    dev = by_prefix["dev"]
    assert dev["keys"] == 35
    assert dev["by_pattern"] == {"latest-system": 31, "subscriptions-system": 1, "username": 2}
    assert (dev["unknown_keys"], dev["wrong_type"]) == (1, 1)
    assert dev["ttl"] == {"none": 33, "under_1h": 1, "under_1d": 1, "longer": 0}
    assert dev["memory_keys_sampled"] == {"latest-system": 5, "subscriptions-system": 1, "username": 2}
    assert dev["memory_bytes_estimated"]["latest-system"] > 31 * 10
    assert not by_prefix["staging"]["declared"]
    kinds = sorted((f.kind, f.subject) for f in findings)
    assert kinds == [
        ("undeclared-prefix", "energy-cache (no prefix)"),
        ("undeclared-prefix", "energy-cache staging:"),
        ("unknown-keys", "energy-cache dev:"),
    ]
    assert rounds <= 10  # one census page, then one SCAN page and one pipeline per prefix
