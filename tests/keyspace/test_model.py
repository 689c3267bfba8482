"""Keyspace files: the seed ones load; malformed ones are refused at their line with what is allowed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kvstack.catalog import load_catalog
from kvstack.errors import CatalogError
from kvstack.keyspace import Keyspace, available_keyspaces, load_keyspace, load_keyspaces

ROOT = Path(__file__).resolve().parents[2]
SEED = ["chart", "chatchonk-cache", "class-state", "codex-cache", "codex-session", "webhook"]

Write = Callable[[str, Any], Keyspace]


def _minimal() -> dict[str, Any]:
    return {
        "description": "test",
        "unknown_keys": "forbidden",
        "patterns": {
            "item": {
                "key": "item:{id:int}",
                "ttl": {"policy": "required", "max": 3600},
                "value": {"format": "json", "schema": {"type": "object"}},
            }
        },
    }


def test_every_keyspace_the_catalog_names_exists_and_loads() -> None:
    assert available_keyspaces(ROOT) == sorted([*SEED, "energy"])  # energy: the Redis keyspace of a store
    for stack in ("dev", "prod"):
        catalog = load_catalog(ROOT, stack)
        names = [b.keyspace for _, b in catalog.bindings() if b.keyspace]
        loaded = load_keyspaces(ROOT, names)
        assert sorted(loaded) == SEED


def test_seed_patterns_follow_the_design_table() -> None:
    session = load_keyspace(ROOT, "codex-session")
    assert session.pattern("login-rate-limit").ttl.max == 900
    assert session.pattern("session").ttl.policy == "required"
    chart = load_keyspace(ROOT, "chart")
    assert chart.pattern("chart-session").value.schema["maxItems"] == 50
    cache = load_keyspace(ROOT, "chatchonk-cache")
    assert {p.name: p.ttl.max for p in cache.patterns} == {
        "model-list": 300,
        "provider-config": 3600,
        "user-prefs": 1800,
        "api-response": 900,
    }
    state = load_keyspace(ROOT, "class-state")
    assert state.pattern("class-state").ttl.max == 3600
    assert state.pattern("notification").ttl.max == 86400


@pytest.mark.parametrize("name", SEED)
def test_every_seed_pattern_with_placeholders_holds_smoke_ids(name: str) -> None:
    keyspace = load_keyspace(ROOT, name)
    for pattern in keyspace.patterns:
        if not pattern.key.placeholders:
            continue
        key = pattern.key.example()
        match = keyspace.match(key)
        assert match is not None, f"{name}.{pattern.name}: smoke key {key!r} matches no pattern"
        assert match.pattern is pattern, f"{name}: smoke key {key!r} of {pattern.name} matched {match.pattern.name}"
        assert match.ok
        assert match.smoke


def test_match_prefers_a_pattern_whose_placeholders_parse(write_keyspace: Write) -> None:
    doc = _minimal()
    doc["patterns"]["named"] = {
        "key": "item:{name:slug}",
        "ttl": {"policy": "optional"},
        "value": {"format": "text", "schema": {}},
    }
    keyspace = write_keyspace("mixed", doc)
    assert keyspace.match("item:12").pattern.name == "item"  # type: ignore[union-attr]
    assert keyspace.match("item:abc").pattern.name == "named"  # type: ignore[union-attr]
    assert keyspace.match("other") is None


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("unknown_keys"), "keyspaces/bad.yaml:1:1: 'unknown_keys' is required"),
        (lambda d: d.update(unknown_keys="maybe"), "at unknown_keys: 'maybe' is not one of 'allowed', 'forbidden'"),
        (lambda d: d.update(extra=1), "unknown key(s) 'extra'"),
        (lambda d: d["patterns"]["item"].update(key="item:{id:float}"), "at patterns.item.key: 'item:{id:float}'"),
        (lambda d: d["patterns"]["item"]["ttl"].update(policy="sometimes"), "at patterns.item.ttl.policy"),
        (lambda d: d["patterns"]["item"]["ttl"].update(min=30), "at patterns.item.ttl.min: 30 is less than"),
        (lambda d: d["patterns"]["item"]["ttl"].update(min=7200), "TTL min 7200 s is above max 3600 s"),
        (
            lambda d: d["patterns"]["item"].update(ttl={"policy": "forbidden", "max": 60}),
            "a pattern without TTL has no TTL bounds",
        ),
        (
            lambda d: d["patterns"]["item"]["value"].update(schema={"type": "objekt"}),
            "at patterns.item.value.schema.type: not a valid JSON Schema",
        ),
        (lambda d: d["patterns"]["item"].update(key="item:{id}:{id}"), "appears twice"),
        (
            lambda d: d["patterns"].update(again=dict(d["patterns"]["item"])),
            "key 'item:{id:int}' is declared twice (patterns item and again)",
        ),
        (lambda d: d["patterns"].update({"Bad Name": d["patterns"]["item"]}), "'Bad Name' does not match"),
    ],
)
def test_malformed_keyspace_is_refused_with_place_and_rule(
    write_keyspace: Write, mutate: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    doc = _minimal()
    mutate(doc)
    with pytest.raises(CatalogError) as caught:
        write_keyspace("bad", doc)
    assert expected in str(caught.value)
    assert caught.value.file == "keyspaces/bad.yaml"
    assert caught.value.line is not None


def test_duplicate_yaml_key_and_missing_file_are_refused(write_keyspace: Write, tmp_path: Path) -> None:
    text = yaml.safe_dump(_minimal(), sort_keys=False) + "description: again\n"
    with pytest.raises(CatalogError, match="duplicate key 'description'"):
        write_keyspace("dup", text)
    with pytest.raises(CatalogError, match="keyspace 'nope' has no file") as caught:
        load_keyspace(tmp_path, "nope")
    assert "dup" in str(caught.value)
