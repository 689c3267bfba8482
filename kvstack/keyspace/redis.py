"""Redis keyspaces (``kind: redis``): the keys of an Upstash store under one environment prefix, typed.

Each pattern has its Redis type (string, hash, list, set, zset); a string its value spec (a JSON Schema
of the JSON or of the text, or a regex); a hash the pattern of its field names and the spec of their
values; a list, set or zset optionally the spec of each element. Keys are declared without the
``<env>:`` prefix the app's ``kvKey()`` helper adds. The file is loaded by the steps every keyspace
shares (``model.py``): as strictly as a KV keyspace, every problem a CatalogError with file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kvstack.keyspace.findings import Finding
from kvstack.keyspace.model import (
    KeyMatch,
    Pattern,
    PatternSet,
    TtlPolicy,
    ValueSpec,
    key_pattern,
    read_keyspace_file,
    ttl_policy,
    value_spec,
)
from kvstack.keyspace.pattern import KeyPattern
from kvstack.keyspace.values import check_value
from kvstack.yamlfile import YamlDocument

__all__ = ["REDIS_TYPES", "RedisKeyMatch", "RedisKeyspace", "RedisPattern", "load_redis_keyspace"]

RedisType = Literal["string", "hash", "list", "set", "zset"]
REDIS_TYPES: tuple[RedisType, ...] = ("string", "hash", "list", "set", "zset")


@dataclass(frozen=True)
class RedisPattern:
    """One key pattern: its Redis type, TTL policy and what its value (or fields, or members) may hold."""

    name: str
    key: KeyPattern
    type: RedisType
    description: str
    ttl: TtlPolicy
    value: ValueSpec | None
    field_key: KeyPattern | None
    field_value: ValueSpec | None

    def check_string(self, key: str, value: str) -> list[Finding]:
        """Findings for the string stored under ``key`` (or one list/set/zset member)."""
        assert self.value is not None
        return check_value(self._as_value_pattern(self.value), key, value)

    def check_field(self, key: str, field: str, value: str) -> list[Finding]:
        """Findings for one hash field: its name against the field pattern, its value against its spec."""
        assert self.field_key is not None
        assert self.field_value is not None
        where = f"{key} field {field!r}"
        fitted = self.field_key.match(field)
        if fitted is None or not fitted.ok:
            why = "; ".join(fitted.problems()) if fitted is not None else f"it does not fit {self.field_key.text!r}"
            return [Finding("unknown-field", where, self.name, f"field {field!r} of {key}: {why}")]
        return check_value(self._as_value_pattern(self.field_value), where, value)

    def _as_value_pattern(self, spec: ValueSpec) -> Pattern:
        # check_value reads only the name and the value spec of a pattern.
        return Pattern(name=self.name, key=self.key, description=self.description, ttl=self.ttl, value=spec)


# A key's pattern and placeholders in a Redis keyspace (``ok``: every placeholder parses).
RedisKeyMatch = KeyMatch[RedisPattern]


class RedisKeyspace(PatternSet[RedisPattern]):
    """What a Redis store may hold under each environment prefix (keys matched without their prefix)."""


def load_redis_keyspace(root: Path, name: str) -> RedisKeyspace:
    """Load ``keyspaces/<name>.yaml``, which must be ``kind: redis``, validated as strictly as a KV keyspace."""
    doc = read_keyspace_file(root, name, kind=" with `kind: redis`")
    data: dict[str, Any] = doc.data
    if data.get("kind") != "redis":
        raise doc.error(
            f"keyspace {name} is a KV keyspace; an Upstash store needs `kind: redis`",
            [],
            hint="add `kind: redis` and a `type` per pattern, or name a Redis keyspace in the store",
        )
    return RedisKeyspace.from_document(doc, name, _pattern)


def _pattern(doc: YamlDocument, name: str, spec: dict[str, Any]) -> RedisPattern:
    where: list[str | int] = ["patterns", name]
    fields = spec.get("fields")
    return RedisPattern(
        name=name,
        key=key_pattern(doc, spec["key"], [*where, "key"]),
        type=spec["type"],
        description=spec.get("description", ""),
        ttl=ttl_policy(doc, spec["ttl"], [*where, "ttl"]),
        value=value_spec(doc, spec["value"], [*where, "value"]) if "value" in spec else None,
        field_key=key_pattern(doc, fields["key"], [*where, "fields", "key"]) if fields else None,
        field_value=value_spec(doc, fields["value"], [*where, "fields", "value"]) if fields else None,
    )
