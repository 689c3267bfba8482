"""Keyspaces: ``keyspaces/<name>.yaml`` loaded, validated against their own schema, compiled.

A keyspace says what one KV namespace may hold: named key patterns, each with the JSON Schema of its
value and its TTL policy, and whether keys that match no pattern are allowed. Every problem in a
keyspace file is a :class:`~kvstack.errors.CatalogError` with file, line and YAML path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import SchemaError

from kvstack.errors import CatalogError, CatalogProblems
from kvstack.keyspace.pattern import KeyPattern, PlaceholderMatch
from kvstack.schemas import describe_error, ecma_validator, validator
from kvstack.yamlfile import YamlDocument, read_yaml

__all__ = [
    "KEYSPACE_DIR",
    "KeyMatch",
    "Keyspace",
    "Pattern",
    "TtlPolicy",
    "ValueSpec",
    "available_keyspaces",
    "load_keyspace",
    "load_keyspaces",
]

KEYSPACE_DIR = "keyspaces"

TtlRule = Literal["required", "forbidden", "optional"]
ValueFormat = Literal["json", "text"]


@dataclass(frozen=True)
class TtlPolicy:
    """Whether keys of a pattern expire, and within which bounds (seconds)."""

    policy: TtlRule
    min: int | None = None
    max: int | None = None

    def describe(self) -> str:
        if self.policy == "forbidden":
            return "no TTL"
        bounds = []
        if self.min is not None:
            bounds.append(f"≥ {self.min} s")
        if self.max is not None:
            bounds.append(f"≤ {self.max} s")
        what = "a TTL" if self.policy == "required" else "an optional TTL"
        return what + (f" ({', '.join(bounds)})" if bounds else "")


@dataclass(frozen=True)
class ValueSpec:
    format: ValueFormat
    schema: Mapping[str, Any]
    max_bytes: int | None
    validator: jsonschema.protocols.Validator


@dataclass(frozen=True)
class Pattern:
    """One named key pattern of a keyspace."""

    name: str
    key: KeyPattern
    description: str
    ttl: TtlPolicy
    value: ValueSpec


@dataclass(frozen=True)
class KeyMatch:
    """The pattern a key belongs to, its placeholder values, and whether they all parse."""

    pattern: Pattern
    placeholders: PlaceholderMatch

    @property
    def ok(self) -> bool:
        return self.placeholders.ok

    @property
    def smoke(self) -> bool:
        return self.placeholders.smoke


@dataclass(frozen=True)
class Keyspace:
    """What one KV namespace may hold."""

    name: str
    file: str
    description: str
    unknown_keys_allowed: bool
    patterns: tuple[Pattern, ...]

    def pattern(self, name: str) -> Pattern:
        for pattern in self.patterns:
            if pattern.name == name:
                return pattern
        raise KeyError(f"keyspace {self.name} has no pattern {name!r}; patterns: {', '.join(self.pattern_names())}")

    def pattern_names(self) -> list[str]:
        return [p.name for p in self.patterns]

    def match(self, key: str) -> KeyMatch | None:
        """The pattern ``key`` belongs to, or None if it fits no pattern's literal text.

        Of several fitting patterns, one whose placeholders all parse wins, then the most specific.
        """
        best: KeyMatch | None = None
        for pattern in self.patterns:
            placeholders = pattern.key.match(key)
            if placeholders is None:
                continue
            candidate = KeyMatch(pattern, placeholders)
            if best is None or _rank(candidate) > _rank(best):
                best = candidate
        return best


def _rank(match: KeyMatch) -> tuple[bool, int]:
    return (match.ok, match.pattern.key.specificity)


def available_keyspaces(root: Path) -> list[str]:
    """Names of the keyspace files in ``root/keyspaces``."""
    return sorted(p.stem for p in (root / KEYSPACE_DIR).glob("*.yaml"))


def load_keyspaces(root: Path, names: Iterable[str]) -> dict[str, Keyspace]:
    """Each named keyspace, loaded once."""
    return {name: load_keyspace(root, name) for name in dict.fromkeys(names)}


def load_keyspace(root: Path, name: str) -> Keyspace:
    """Load ``keyspaces/<name>.yaml``, validate it (kvstack/schemas/keyspace.schema.json), compile its patterns."""
    relpath = f"{KEYSPACE_DIR}/{name}.yaml"
    path = root / relpath
    if not path.is_file():
        known = ", ".join(available_keyspaces(root)) or "none"
        raise CatalogError(
            f"keyspace {name!r} has no file",
            file=relpath,
            hint=f"create {relpath} (see kvstack/schemas/keyspace.schema.json) or use one of: {known}",
        )
    doc = read_yaml(path, relpath)
    errors = sorted(
        validator("keyspace").iter_errors(doc.data),
        key=lambda e: doc.position(list(e.absolute_path)) or (0, 0),
    )
    if errors:
        raise _every([doc.error(describe_error(error), list(error.absolute_path)) for error in errors])
    data: dict[str, Any] = doc.data
    if data.get("kind") == "redis":
        raise doc.error(
            f"keyspace {name} is a Redis keyspace (`kind: redis`); a KV binding cannot use it",
            ["kind"],
            hint="name a KV keyspace in the binding; Redis keyspaces belong to `stores` of kind upstash",
        )
    built: list[Pattern] = []
    problems: list[CatalogError] = []
    for pname, spec in data["patterns"].items():
        try:
            built.append(_pattern(doc, pname, spec))
        except CatalogError as error:
            problems.append(error)
    patterns = tuple(built)
    try:
        _check_distinct(doc, patterns)
    except CatalogError as error:
        problems.append(error)
    if problems:
        raise _every(problems)
    return Keyspace(
        name=name,
        file=relpath,
        description=data["description"],
        unknown_keys_allowed=data["unknown_keys"] == "allowed",
        patterns=patterns,
    )


def _every(problems: list[CatalogError]) -> CatalogError:
    return problems[0] if len(problems) == 1 else CatalogProblems(problems)


def _pattern(doc: YamlDocument, name: str, spec: dict[str, Any]) -> Pattern:
    where: list[str | int] = ["patterns", name]
    try:
        key = KeyPattern(spec["key"])
    except ValueError as exc:
        raise doc.error(str(exc), [*where, "key"]) from exc
    ttl_spec = spec["ttl"]
    ttl = TtlPolicy(ttl_spec["policy"], ttl_spec.get("min"), ttl_spec.get("max"))
    if ttl.policy == "forbidden" and (ttl.min is not None or ttl.max is not None):
        raise doc.error("a pattern without TTL has no TTL bounds", [*where, "ttl"], hint="remove min/max")
    if ttl.min is not None and ttl.max is not None and ttl.min > ttl.max:
        raise doc.error(f"TTL min {ttl.min} s is above max {ttl.max} s", [*where, "ttl"])
    value_spec = spec["value"]
    schema = value_spec["schema"]
    try:
        value_validator = ecma_validator(schema)
    except SchemaError as exc:
        path = [*where, "value", "schema", *exc.absolute_path]
        raise doc.error(f"not a valid JSON Schema: {exc.message}", path) from exc
    return Pattern(
        name=name,
        key=key,
        description=spec.get("description", ""),
        ttl=ttl,
        value=ValueSpec(
            format=value_spec["format"],
            schema=schema,
            max_bytes=value_spec.get("max_bytes"),
            validator=value_validator,
        ),
    )


def _check_distinct(doc: YamlDocument, patterns: tuple[Pattern, ...]) -> None:
    seen: dict[str, str] = {}
    for pattern in patterns:
        if pattern.key.text in seen:
            raise doc.error(
                f"key {pattern.key.text!r} is declared twice (patterns {seen[pattern.key.text]} and {pattern.name})",
                ["patterns", pattern.name, "key"],
            )
        seen[pattern.key.text] = pattern.name
