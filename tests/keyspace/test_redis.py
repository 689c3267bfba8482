"""Redis keyspaces (kind: redis): the seed's energy keyspace loads and judges values; bad files are refused."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kvstack.errors import CatalogError, CatalogProblems
from kvstack.keyspace import load_keyspace
from kvstack.keyspace.redis import RedisKeyspace, load_redis_keyspace

ROOT = Path(__file__).resolve().parents[2]
POINT = {"value": 5.5, "measurementTimeMs": 1700000000000, "receivedTimeMs": 1700000000100, "metricUnit": "kW"}


@pytest.fixture
def energy() -> RedisKeyspace:
    return load_redis_keyspace(ROOT, "energy")


def test_the_energy_keyspace_declares_the_seed_s_three_patterns_with_their_redis_types(energy: RedisKeyspace) -> None:
    assert {p.name: (p.key.text, p.type) for p in energy.patterns} == {
        "latest-system": ("latest:system:{systemId:int}", "hash"),
        "subscriptions-system": ("subscriptions:system:{systemId:int}", "string"),
        "username": ("username:{username}", "string"),
    }
    assert not energy.unknown_keys_allowed
    assert energy.pattern("username").ttl.max == 86400


def test_a_hash_field_is_judged_by_its_name_pattern_and_its_json_schema(energy: RedisKeyspace) -> None:
    latest = energy.pattern("latest-system")
    assert latest.check_field("dev:latest:system:7", "source.solar.local/power", json.dumps(POINT)) == []
    [wrong] = latest.check_field("dev:latest:system:7", "p", json.dumps({**POINT, "value": "high"}))
    assert wrong.kind == "invalid-value"
    assert "at /value: expected type number" in wrong.message
    [missing] = latest.check_field("dev:latest:system:7", "p", json.dumps({"value": 1}))
    assert "measurementTimeMs" in missing.message
    [garbled] = latest.check_field("dev:latest:system:7", "p", "{not json")
    assert garbled.kind == "not-json"
    [field] = latest.check_field("dev:latest:system:7", "a:b", json.dumps(POINT))
    assert field.kind == "unknown-field"


def test_registry_and_username_strings_are_judged_by_schema_and_regex(energy: RedisKeyspace) -> None:
    registry = energy.pattern("subscriptions-system")
    assert registry.check_string("k", "[100, 101]") == []
    assert registry.check_string("k", '["100"]')[0].kind == "invalid-value"
    assert registry.check_string("k", '{"ids": [1]}')[0].kind == "invalid-value"
    username = energy.pattern("username")
    assert username.check_string("k", "user_2NNEqL2nrIRxZ") == []
    assert username.check_string("k", "user_2x\n")[0].kind == "invalid-value"
    assert username.check_string("k", "ada")[0].kind == "invalid-value"


def test_keys_are_matched_without_their_prefix(energy: RedisKeyspace) -> None:
    assert energy.match("latest:system:99999").pattern.name == "latest-system"  # type: ignore[union-attr]
    assert energy.match("subscriptions:system:12").pattern.name == "subscriptions-system"  # type: ignore[union-attr]
    assert not energy.match("latest:system:abc").ok  # type: ignore[union-attr]
    assert energy.match("dev:latest:system:1") is None


def test_a_kv_binding_cannot_use_a_redis_keyspace_nor_a_store_a_kv_one() -> None:
    with pytest.raises(CatalogError, match="is a Redis keyspace"):
        load_keyspace(ROOT, "energy")
    with pytest.raises(CatalogError, match="an Upstash store needs `kind: redis`"):
        load_redis_keyspace(ROOT, "chart")


def _energy_doc() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load((ROOT / "keyspaces" / "energy.yaml").read_text()))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["patterns"]["username"].update(type="stream"), "at patterns.username.type: 'stream' is not one"),
        (lambda d: d["patterns"]["latest-system"].pop("fields"), "at patterns.latest-system: 'fields' is required"),
        (lambda d: d["patterns"]["username"].pop("value"), "at patterns.username: 'value' is required"),
        (
            lambda d: d["patterns"]["subscriptions-system"].update(
                fields={"key": "{f}", "value": {"format": "text", "regex": "x"}}
            ),
            "at patterns.subscriptions-system",
        ),
        (lambda d: d["patterns"]["username"]["value"].update(regex="user_("), "not a valid regular expression"),
        (lambda d: d["patterns"]["username"]["value"].update(format="json"), "a regex applies to text values"),
        (
            lambda d: d["patterns"]["username"]["value"].update(schema={"type": "string"}),
            "at patterns.username.value",
        ),
        (
            lambda d: d["patterns"]["latest-system"]["fields"]["value"].update(schema={"type": "numbr"}),
            "at patterns.latest-system.fields.value.schema.type: not a valid JSON Schema",
        ),
        (lambda d: d["patterns"]["latest-system"]["fields"].update(key="{a}{"), "at patterns.latest-system.fields.key"),
        (lambda d: d["patterns"]["username"]["ttl"].update(min=90000), "TTL min 90000 s is above max 86400 s"),
        (lambda d: d.update(kind="sql"), "at kind: 'sql' is not one of 'kv', 'redis'"),
        (lambda d: d["patterns"]["username"].update(key="latest:system:{systemId:int}"), "is declared twice"),
    ],
)
def test_a_malformed_redis_keyspace_is_refused_with_file_line_and_rule(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    document = _energy_doc()
    mutate(document)
    (tmp_path / "keyspaces").mkdir()
    (tmp_path / "keyspaces" / "energy.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(CatalogError) as caught:
        load_redis_keyspace(tmp_path, "energy")
    assert expected in str(caught.value)
    assert caught.value.file == "keyspaces/energy.yaml"
    assert caught.value.line is not None


def test_every_problem_of_a_redis_keyspace_is_raised_each_at_its_line(tmp_path: Path) -> None:
    document = _energy_doc()
    document["patterns"]["username"]["value"].update(regex="user_(")
    document["patterns"]["subscriptions-system"]["ttl"].update(max=60)
    (tmp_path / "keyspaces").mkdir()
    (tmp_path / "keyspaces" / "energy.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(CatalogProblems) as caught:
        load_redis_keyspace(tmp_path, "energy")
    problems = caught.value.problems
    assert [p.yaml_path for p in problems] == ["patterns.subscriptions-system.ttl", "patterns.username.value.regex"]
    assert all(p.line is not None for p in problems)


def test_a_redis_regex_is_an_ecma_262_one_matching_the_whole_text(tmp_path: Path) -> None:
    document = _energy_doc()
    document["patterns"]["username"]["value"].update(regex="(?P<id>user_[a-z]+)")  # Python-only named group
    (tmp_path / "keyspaces").mkdir()
    (tmp_path / "keyspaces" / "energy.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(CatalogError, match="not a valid regular expression"):
        load_redis_keyspace(tmp_path, "energy")
