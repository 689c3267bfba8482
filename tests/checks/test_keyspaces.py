"""Keyspace checks: bad values, missing TTLs and unknown keys are found with key, pattern and JSON pointer."""

from __future__ import annotations

import json
import time

from .conftest import SESSION, World


def _keyspace_failure(world: World, app: str, binding: str, **options: object) -> str:
    outcome = world.run("keyspaces", **options)
    failures = world.failures(outcome)
    name = f"test_namespace_holds_only_what_its_keyspace_allows[{app}.{binding}]"
    assert list(failures) == [name]
    return failures[name]


def test_value_violating_its_schema_names_key_and_pointer(world: World) -> None:
    chart = world.ids("dubai-app-front", "CHART_KV")["id"]
    bad = [{"id": "m1", "receivedAt": "t", "chart": {"type": "line"}}, {"id": "m2", "receivedAt": "t", "chart": {}}]
    world.fake.put(chart, "charts:session:s2", json.dumps(bad), time.time() + 3600)
    message = _keyspace_failure(world, "dubai-app-front", "CHART_KV")
    assert message.startswith(
        f"namespace dubai-app-front-dev-CHART_KV ({chart}) of dubai-app-front.CHART_KV, keyspace keyspaces/chart.yaml: "
        "expected every key to fit it; found 1 invalid-value"
    )
    assert (
        "key 'charts:session:s2' (pattern chart-session): value does not match the schema of chart-session at "
        "/1/chart: expected property 'type'; found keys [] [JSON pointer /1/chart]"
    ) in message


def test_session_key_without_ttl_is_found(world: World) -> None:
    sessions = world.ids("codex", "AUTH_SESSION_KV")["id"]
    world.fake.put(sessions, "session:" + "b" * 64, json.dumps(SESSION))
    message = _keyspace_failure(world, "codex", "AUTH_SESSION_KV")
    assert (
        f"key 'session:{'b' * 64}' (pattern session): "
        "expected a TTL (≥ 60 s, ≤ 604800 s); found a key that never expires"
    ) in message


def test_unknown_key_is_found(world: World) -> None:
    cache = world.ids("chatchonk-api", "CACHE_KV")["id"]
    world.fake.put(cache, "tmp:debug", "x")
    message = _keyspace_failure(world, "chatchonk-api", "CACHE_KV")
    assert "key 'tmp:debug': expected a key matching one of models:{provider:slug}, " in message
    assert "found a key matching none" in message


def test_ttl_beyond_the_maximum_and_bad_placeholder_are_found(world: World) -> None:
    state = world.ids("pickmyclass", "KV")["id"]
    value = json.dumps({"class_nbr": 7, "status": "open", "seats_available": 1, "fetched_at": "t"})
    world.fake.put(state, "class_state:7", value, time.time() + 30 * 86400)
    world.fake.put(state, "class_state:seven", value, time.time() + 60)
    message = _keyspace_failure(world, "pickmyclass", "KV")
    assert "found 1 bad-placeholder, 1 ttl-too-long" in message
    assert "placeholder {class_nbr:int} is 'seven', not a non-negative decimal integer" in message


def test_deleted_namespace_fails_the_scan_not_the_run(world: World) -> None:
    ids = world.ids("codex", "CACHE_KV")
    del world.fake.namespaces[ids["id"]]
    outcome = world.run("keyspaces")
    assert outcome.exit_code == 1
    message = world.failures(outcome)["test_namespace_holds_only_what_its_keyspace_allows[codex.CACHE_KV]"]
    assert "expected it to exist to scan it; found none" in message


def test_sample_and_deep_read_what_they_say(world: World) -> None:
    state = world.ids("pickmyclass", "KV")["id"]
    for n in range(250):
        value = json.dumps({"class_nbr": n, "status": "open", "seats_available": 1, "fetched_at": "t"})
        world.fake.put(state, f"class_state:{1000 + n}", value, time.time() + 600)
    world.run("keyspaces", sample=10, apps=("pickmyclass",))
    [scan] = [s for s in world.last_report["keyspaces"] if not s["preview"]]
    assert scan["keys"] == 252
    assert scan["patterns"]["class-state"] == {"keys": 251, "values_read": 10, "smoke": 0}
    world.run("keyspaces", deep=True, apps=("pickmyclass",))
    [scan] = [s for s in world.last_report["keyspaces"] if not s["preview"]]
    assert scan["values_read"] == 252
    assert world.last_report["spent"]["kv_reads"] == 252
    assert world.last_report["spent"]["kv_lists"] == 2, "one list page per namespace (production and preview)"
