"""Values against their pattern's schema: the failing place as a JSON pointer, expected and found in words."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kvstack.keyspace import Keyspace, check_value, json_pointer

SeedKeyspace = Callable[[str], Keyspace]


def _messages(count: int) -> list[dict[str, Any]]:
    return [{"id": f"m{i}", "receivedAt": "2026-01-01T00:00:00Z", "chart": {"type": "line"}} for i in range(count)]


def test_conforming_chart_session_has_no_findings(seed_keyspace: SeedKeyspace) -> None:
    pattern = seed_keyspace("chart").pattern("chart-session")
    assert check_value(pattern, "charts:session:s1", json.dumps(_messages(50))) == []


def test_chart_session_with_51_messages_fails_at_the_top(seed_keyspace: SeedKeyspace) -> None:
    pattern = seed_keyspace("chart").pattern("chart-session")
    [finding] = check_value(pattern, "charts:session:s1", json.dumps(_messages(51)))
    assert finding.kind == "invalid-value"
    assert finding.pointer == ""
    assert "at the top level: expected at most 50 items; found 51" in finding.message


def test_failure_deep_in_a_value_names_its_json_pointer(seed_keyspace: SeedKeyspace) -> None:
    pattern = seed_keyspace("chart").pattern("chart-session")
    messages = _messages(5)
    del messages[3]["chart"]["type"]
    [finding] = check_value(pattern, "charts:session:s1", json.dumps(messages))
    assert finding.pointer == "/3/chart"
    assert "at /3/chart: expected property 'type'; found keys []" in finding.message


def test_wrong_type_and_enum_say_what_was_found(seed_keyspace: SeedKeyspace) -> None:
    pattern = seed_keyspace("class-state").pattern("class-state")
    value = {"class_nbr": 1, "status": "full", "seats_available": 2, "fetched_at": "t"}
    [finding] = check_value(pattern, "class_state:1", json.dumps(value))
    assert finding.pointer == "/status"
    assert 'expected one of ["open", "closed", "waitlist"]; found "full"' in finding.message
    counter = seed_keyspace("codex-session").pattern("login-rate-limit")
    [finding] = check_value(counter, "rl:login:10.0.0.1", '"three"')
    assert 'expected type integer; found "three"' in finding.message


def test_text_that_is_not_json_is_its_own_finding(seed_keyspace: SeedKeyspace) -> None:
    pattern = seed_keyspace("codex-session").pattern("session")
    [finding] = check_value(pattern, "session:abc", "{user: 1")
    assert finding.kind == "not-json"
    assert "expected a JSON value" in finding.message
    assert "'{user: 1'" in finding.message


def test_value_over_max_bytes_is_refused_before_parsing(seed_keyspace: SeedKeyspace) -> None:
    pattern = seed_keyspace("codex-session").pattern("login-rate-limit")
    object.__setattr__(pattern.value, "max_bytes", 4)
    try:
        [finding] = check_value(pattern, "rl:login:10.0.0.1", "123456")
    finally:
        object.__setattr__(pattern.value, "max_bytes", None)
    assert finding.kind == "value-too-large"
    assert finding.message == "expected at most 4 bytes (the pattern's max_bytes); found 6 bytes"


def test_json_pointer_escapes_per_rfc_6901() -> None:
    assert json_pointer([]) == ""
    assert json_pointer(["a/b", 0, "c~d"]) == "/a~1b/0/c~0d"
