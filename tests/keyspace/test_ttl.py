"""TTL policy: required, forbidden, the maximum with a clock tolerance, and a fresh write's bounds."""

from __future__ import annotations

from collections.abc import Callable

from kvstack.keyspace import Keyspace, TtlPolicy, check_expiration, check_fresh_ttl

NOW = 1_800_000_000.0
SeedKeyspace = Callable[[str], Keyspace]


def test_session_without_ttl_is_a_missing_ttl(seed_keyspace: SeedKeyspace) -> None:
    pattern = seed_keyspace("codex-session").pattern("session")
    finding = check_expiration(pattern, "session:abc", None, NOW)
    assert finding is not None
    assert finding.kind == "missing-ttl"
    assert finding.message == "expected a TTL (≥ 60 s, ≤ 604800 s); found a key that never expires"


def test_ttl_beyond_the_maximum_is_reported_past_the_tolerance(seed_keyspace: SeedKeyspace) -> None:
    pattern = seed_keyspace("codex-session").pattern("login-rate-limit")
    assert check_expiration(pattern, "rl:login:10.0.0.1", NOW + 900, NOW) is None
    assert check_expiration(pattern, "rl:login:10.0.0.1", NOW + 920, NOW, tolerance=30) is None
    finding = check_expiration(pattern, "rl:login:10.0.0.1", NOW + 3600, NOW)
    assert finding is not None
    assert finding.kind == "ttl-too-long"
    assert finding.message == "expected a TTL of at most 900 s; found one expiring in 3600 s"


def test_remaining_ttl_below_the_minimum_is_fine_when_listed(seed_keyspace: SeedKeyspace) -> None:
    pattern = seed_keyspace("codex-session").pattern("session")
    assert check_expiration(pattern, "session:abc", NOW + 5, NOW) is None


def test_forbidden_and_optional_policies() -> None:
    assert check_fresh_ttl(TtlPolicy("forbidden"), 120) == "expected no TTL; found 120 s"
    assert check_fresh_ttl(TtlPolicy("optional"), None) is None
    assert check_fresh_ttl(TtlPolicy("required", 60, 900), None) == "expected a TTL (≥ 60 s, ≤ 900 s); found no TTL"
    assert check_fresh_ttl(TtlPolicy("required", 600, 900), 100) == "expected a TTL of at least 600 s; found 100 s"
    assert check_fresh_ttl(TtlPolicy("required", 60, 900), 900) is None
