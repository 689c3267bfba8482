"""Redis keyspaces (``kind: redis``): the keys of an Upstash store under one environment prefix, typed.

Each pattern has its Redis type (string, hash, list, set, zset); a string its value spec (a JSON Schema
of the JSON or of the text, or a regex); a hash the pattern of its field names and the spec of their
values; a list, set or zset optionally the spec of each element. Keys are declared without the
``<env>:`` prefix the app's ``kvKey()`` helper adds. Problems are CatalogErrors with file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import SchemaError

from kvstack.errors import CatalogError
from kvstack.keyspace.findings import Finding
from kvstack.keyspace.model import KEYSPACE_DIR, Pattern, TtlPolicy, ValueSpec, available_keyspaces
from kvstack.keyspace.pattern import KeyPattern, PlaceholderMatch
from kvstack.keyspace.values import check_value
from kvstack.schemas import describe_error, validator
from kvstack.yamlfile import YamlDocument, read_yaml

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


@dataclass(frozen=True)
class RedisKeyMatch:
    pattern: RedisPattern
    placeholders: PlaceholderMatch

    @property
    def ok(self) -> bool:
        return self.placeholders.ok


@dataclass(frozen=True)
class RedisKeyspace:
    """What a Redis store may hold under each environment prefix."""

    name: str
    file: str
    description: str
    unknown_keys_allowed: bool
    patterns: tuple[RedisPattern, ...]

    def pattern(self, name: str) -> RedisPattern:
        for pattern in self.patterns:
            if pattern.name == name:
                return pattern
        raise KeyError(f"keyspace {self.name} has no pattern {name!r}")

    def match(self, key: str) -> RedisKeyMatch | None:
        """The pattern of ``key`` (without its prefix): one whose placeholders parse wins, then the most specific."""
        best: RedisKeyMatch | None = None
        for pattern in self.patterns:
            fitted = pattern.key.match(key)
            if fitted is None:
                continue
            candidate = RedisKeyMatch(pattern, fitted)
            if best is None or (candidate.ok, pattern.key.specificity) > (best.ok, best.pattern.key.specificity):
                best = candidate
        return best


def load_redis_keyspace(root: Path, name: str) -> RedisKeyspace:
    """Load ``keyspaces/<name>.yaml``, which must be ``kind: redis``, validated as strictly as a KV keyspace."""
    relpath = f"{KEYSPACE_DIR}/{name}.yaml"
    if not (root / relpath).is_file():
        known = ", ".join(available_keyspaces(root)) or "none"
        raise CatalogError(
            f"keyspace {name!r} has no file",
            file=relpath,
            hint=f"create {relpath} with `kind: redis` (see schemas/keyspace.schema.json) or use one of: {known}",
        )
    doc = read_yaml(root / relpath, relpath)
    errors = sorted(
        validator("keyspace").iter_errors(doc.data), key=lambda e: doc.position(list(e.absolute_path)) or (0, 0)
    )
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise doc.error(describe_error(first) + more, list(first.absolute_path))
    data: dict[str, Any] = doc.data
    if data.get("kind") != "redis":
        raise doc.error(
            f"keyspace {name} is a KV keyspace; an Upstash store needs `kind: redis`",
            [],
            hint="add `kind: redis` and a `type` per pattern, or name a Redis keyspace in the store",
        )
    patterns = tuple(_pattern(doc, pname, spec) for pname, spec in data["patterns"].items())
    seen: dict[str, str] = {}
    for pattern in patterns:
        if pattern.key.text in seen:
            raise doc.error(
                f"key {pattern.key.text!r} is declared twice (patterns {seen[pattern.key.text]} and {pattern.name})",
                ["patterns", pattern.name, "key"],
            )
        seen[pattern.key.text] = pattern.name
    return RedisKeyspace(
        name=name,
        file=relpath,
        description=data["description"],
        unknown_keys_allowed=data["unknown_keys"] == "allowed",
        patterns=patterns,
    )


def _pattern(doc: YamlDocument, name: str, spec: dict[str, Any]) -> RedisPattern:
    where: list[str | int] = ["patterns", name]
    key = _key_pattern(doc, spec["key"], [*where, "key"])
    ttl = TtlPolicy(spec["ttl"]["policy"], spec["ttl"].get("min"), spec["ttl"].get("max"))
    if ttl.policy == "forbidden" and (ttl.min is not None or ttl.max is not None):
        raise doc.error("a pattern without TTL has no TTL bounds", [*where, "ttl"], hint="remove min/max")
    if ttl.min is not None and ttl.max is not None and ttl.min > ttl.max:
        raise doc.error(f"TTL min {ttl.min} s is above max {ttl.max} s", [*where, "ttl"])
    fields = spec.get("fields")
    return RedisPattern(
        name=name,
        key=key,
        type=spec["type"],
        description=spec.get("description", ""),
        ttl=ttl,
        value=_value(doc, spec["value"], [*where, "value"]) if "value" in spec else None,
        field_key=_key_pattern(doc, fields["key"], [*where, "fields", "key"]) if fields else None,
        field_value=_value(doc, fields["value"], [*where, "fields", "value"]) if fields else None,
    )


def _key_pattern(doc: YamlDocument, text: str, where: list[str | int]) -> KeyPattern:
    try:
        return KeyPattern(text)
    except ValueError as exc:
        raise doc.error(str(exc), where) from exc


def _value(doc: YamlDocument, spec: dict[str, Any], where: list[str | int]) -> ValueSpec:
    cls = jsonschema.Draft202012Validator
    if "regex" in spec:
        if spec["format"] != "text":
            raise doc.error("a regex applies to text values", [*where, "regex"], hint="use `format: text`")
        try:
            re.compile(spec["regex"])
        except re.error as exc:
            raise doc.error(f"not a valid regular expression: {exc}", [*where, "regex"]) from exc
        # JSON Schema's `pattern` searches; the whole text must match.
        schema: dict[str, Any] = {"type": "string", "pattern": f"^(?:{spec['regex']})\\Z"}
    else:
        schema = spec["schema"]
        try:
            cls.check_schema(schema)
        except SchemaError as exc:
            raise doc.error(f"not a valid JSON Schema: {exc.message}", [*where, "schema", *exc.absolute_path]) from exc
    return ValueSpec(
        format=spec["format"],
        schema=schema,
        max_bytes=spec.get("max_bytes"),
        validator=cls(schema, format_checker=cls.FORMAT_CHECKER),
    )
