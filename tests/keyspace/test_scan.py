"""Scanning: every key classified from listing, values read 100 per request, a stable sample per pattern."""

from __future__ import annotations

import json
from collections.abc import Callable

from kvstack.keyspace import Keyspace, ListedKey, scan_namespace

from .conftest import FakeSource

NOW = 1_800_000_000.0
SeedKeyspace = Callable[[str], Keyspace]


def _state(nbr: int) -> str:
    return json.dumps({"class_nbr": nbr, "status": "open", "seats_available": 3, "fetched_at": "t"})


def _class_keys(count: int) -> tuple[list[ListedKey], dict[str, str]]:
    keys = [ListedKey(f"class_state:{n}", expiration=NOW + 600) for n in range(count)]
    return keys, {k.name: _state(n) for n, k in enumerate(keys)}


def test_healthy_namespace_scans_clean_and_reads_a_sample(seed_keyspace: SeedKeyspace) -> None:
    keys, values = _class_keys(250)
    source = FakeSource(keys, values, page_size=100)
    report = scan_namespace(source, "ns", seed_keyspace("class-state"), sample=100, now=NOW)
    assert report.findings == []
    assert report.keys == 250
    assert report.patterns["class-state"].keys == 250
    assert report.values_read == 100
    assert source.list_requests == 3
    assert [len(batch) for batch in source.bulk_gets] == [100]


def test_sample_is_the_same_keys_every_run(seed_keyspace: SeedKeyspace) -> None:
    keys, values = _class_keys(500)
    first, second = FakeSource(keys, values), FakeSource(list(reversed(keys)), values)
    scan_namespace(first, "ns", seed_keyspace("class-state"), sample=20, now=NOW)
    scan_namespace(second, "ns", seed_keyspace("class-state"), sample=20, now=NOW)
    assert sorted(first.bulk_gets[0]) == sorted(second.bulk_gets[0])
    assert first.bulk_gets[0] != [k.name for k in keys[:20]], "a hash sample, not the first keys listed"


def test_deep_reads_every_value_in_bulk_gets_of_100(seed_keyspace: SeedKeyspace) -> None:
    keys, values = _class_keys(1050)
    source = FakeSource(keys, values, page_size=1000)
    report = scan_namespace(source, "ns", seed_keyspace("class-state"), sample=None, now=NOW)
    assert report.values_read == 1050
    assert [len(b) for b in source.bulk_gets] == [100] * 10 + [50]


def test_empty_page_before_the_end_does_not_stop_the_listing(seed_keyspace: SeedKeyspace) -> None:
    keys, values = _class_keys(30)
    source = FakeSource(keys, values, page_size=10)
    source.empty_pages_at = {1, 2}
    report = scan_namespace(source, "ns", seed_keyspace("class-state"), sample=None, now=NOW)
    assert report.keys == 30
    assert source.list_requests == 5


def test_each_defect_becomes_a_specific_finding(seed_keyspace: SeedKeyspace) -> None:
    keyspace = seed_keyspace("codex-session")
    good = json.dumps({"user": "u1", "created_at": "t", "expires_at": "t"})
    keys = [
        ListedKey("session:" + "a" * 64, expiration=NOW + 3600),
        ListedKey("session:f0f0"),
        ListedKey("session:bad0", expiration=NOW + 3600),
        ListedKey("rl:login:10.0.0.1", expiration=NOW + 86400),
        ListedKey("rl:login:not-an-ip", expiration=NOW + 60),
        ListedKey("stray:key"),
        ListedKey("session:" + "a" * 600, expiration=NOW + 60),
        ListedKey("session:beef", expiration=NOW + 60, metadata={"blob": "x" * 2000}),
        ListedKey("session:dead", expiration=NOW + 60),
        ListedKey("session:not-hex", expiration=NOW + 60),
    ]
    values = {
        "session:" + "a" * 64: good,
        "session:f0f0": good,
        "session:bad0": json.dumps({"user": 7, "created_at": "t", "expires_at": "t"}),
        "rl:login:10.0.0.1": "1",
        "session:" + "a" * 600: good,
        "session:beef": good,
    }
    report = scan_namespace(FakeSource(keys, values), "ns", keyspace, sample=None, now=NOW)
    found = {(f.key[:20], f.kind) for f in report.findings}
    assert found == {
        ("session:f0f0", "missing-ttl"),
        ("session:bad0", "invalid-value"),
        ("rl:login:10.0.0.1", "ttl-too-long"),
        ("rl:login:not-an-ip", "bad-placeholder"),
        ("session:not-hex", "bad-placeholder"),
        ("stray:key", "unknown-key"),
        ("session:aaaaaaaaaaaa", "key-too-long"),
        ("session:beef", "metadata-too-large"),
    }
    invalid = next(f for f in report.findings if f.kind == "invalid-value")
    assert invalid.pointer == "/user"
    unknown = next(f for f in report.findings if f.kind == "unknown-key")
    assert "expected a key matching one of session:{token:hex}, rl:login:{ip:ip}" in unknown.message
    assert report.vanished == 1
    assert report.unknown == 1


def test_unknown_keys_allowed_are_counted_not_reported(seed_keyspace: SeedKeyspace) -> None:
    keyspace = seed_keyspace("codex-cache")
    object.__setattr__(keyspace, "unknown_keys_allowed", True)
    report = scan_namespace(FakeSource([ListedKey("other")], {}), "ns", keyspace, now=NOW)
    assert report.unknown == 1
    assert report.findings == []


def test_smoke_keys_are_listed_and_not_sampled(seed_keyspace: SeedKeyspace) -> None:
    keys = [ListedKey("class_state:kvstack-smoke-r1", expiration=NOW + 60), ListedKey("class_state:7", NOW + 60)]
    source = FakeSource(keys, {"class_state:7": _state(7), "class_state:kvstack-smoke-r1": "{}"})
    report = scan_namespace(source, "ns", seed_keyspace("class-state"), now=NOW)
    assert report.smoke_keys == ["class_state:kvstack-smoke-r1"]
    assert report.patterns["class-state"].smoke == 1
    assert source.bulk_gets == [["class_state:7"]]
    assert report.findings == []
