"""Keyspaces: ``keyspaces/<name>.yaml`` loaded, validated against their own schema, compiled.

A keyspace says what one KV namespace may hold: named key patterns, each with the JSON Schema of its
value and its TTL policy, and whether keys that match no pattern are allowed. Every problem in a
keyspace file is a :class:`~kvstack.errors.CatalogError` with file, line and YAML path; a file with
several problems raises them all (:class:`~kvstack.errors.CatalogProblems`).

The loading steps every keyspace kind shares live here — the file, its schema, TTL policies, value
specs (JSON Schema or regex, ECMA-262 patterns), distinct keys, the best match of a key — and
``redis.py`` builds its typed patterns from them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, Self, TypeVar

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
    "PatternSet",
    "TtlPolicy",
    "ValueSpec",
    "available_keyspaces",
    "build_patterns",
    "key_pattern",
    "load_keyspace",
    "load_keyspaces",
    "read_keyspace_file",
    "ttl_policy",
    "value_spec",
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


class _Named(Protocol):
    """What the shared steps need of a pattern of any keyspace kind."""

    @property
    def name(self) -> str: ...

    @property
    def key(self) -> KeyPattern: ...


P = TypeVar("P", bound=_Named)
# Makes one pattern of a keyspace file: (the file, the pattern's name, its spec) → the pattern.
Builder = Callable[[YamlDocument, str, dict[str, Any]], P]


@dataclass(frozen=True)
class KeyMatch(Generic[P]):
    """The pattern a key belongs to, its placeholder values, and whether they all parse."""

    pattern: P
    placeholders: PlaceholderMatch

    @property
    def ok(self) -> bool:
        return self.placeholders.ok

    @property
    def smoke(self) -> bool:
        return self.placeholders.smoke


@dataclass(frozen=True)
class PatternSet(Generic[P]):
    """A loaded keyspace of any kind: its file, whether unknown keys are allowed, its named patterns."""

    name: str
    file: str
    description: str
    unknown_keys_allowed: bool
    patterns: tuple[P, ...]

    def pattern(self, name: str) -> P:
        for pattern in self.patterns:
            if pattern.name == name:
                return pattern
        raise KeyError(f"keyspace {self.name} has no pattern {name!r}; patterns: {', '.join(self.pattern_names())}")

    def pattern_names(self) -> list[str]:
        return [p.name for p in self.patterns]

    @classmethod
    def from_document(cls, doc: YamlDocument, name: str, build: Builder[P]) -> Self:
        """The keyspace of a file read by :func:`read_keyspace_file`, each pattern made by ``build``."""
        return cls(
            name=name,
            file=doc.display,
            description=doc.data["description"],
            unknown_keys_allowed=doc.data["unknown_keys"] == "allowed",
            patterns=build_patterns(doc, build),
        )

    def match(self, key: str) -> KeyMatch[P] | None:
        """The pattern ``key`` belongs to, or None if it fits no pattern's literal text.

        Of several fitting patterns, one whose placeholders all parse wins, then the most specific.
        """
        best: KeyMatch[P] | None = None
        for pattern in self.patterns:
            placeholders = pattern.key.match(key)
            if placeholders is None:
                continue
            if best is None or (placeholders.ok, pattern.key.specificity) > (best.ok, best.pattern.key.specificity):
                best = KeyMatch(pattern, placeholders)
        return best


class Keyspace(PatternSet[Pattern]):
    """What one KV namespace may hold."""


def available_keyspaces(root: Path) -> list[str]:
    """Names of the keyspace files in ``root/keyspaces``."""
    return sorted(p.stem for p in (root / KEYSPACE_DIR).glob("*.yaml"))


def load_keyspaces(root: Path, names: Iterable[str]) -> dict[str, Keyspace]:
    """Each named keyspace, loaded once."""
    return {name: load_keyspace(root, name) for name in dict.fromkeys(names)}


def load_keyspace(root: Path, name: str) -> Keyspace:
    """Load ``keyspaces/<name>.yaml``, validate it (kvstack/schemas/keyspace.schema.json), compile its patterns."""
    doc = read_keyspace_file(root, name)
    data: dict[str, Any] = doc.data
    if data.get("kind") == "redis":
        raise doc.error(
            f"keyspace {name} is a Redis keyspace (`kind: redis`); a KV binding cannot use it",
            ["kind"],
            hint="name a KV keyspace in the binding; Redis keyspaces belong to `stores` of kind upstash",
        )
    return Keyspace.from_document(doc, name, _pattern)


def read_keyspace_file(root: Path, name: str, *, kind: str = "") -> YamlDocument:
    """``keyspaces/<name>.yaml`` read and valid against its schema; every schema problem raised at its line."""
    relpath = f"{KEYSPACE_DIR}/{name}.yaml"
    path = root / relpath
    if not path.is_file():
        known = ", ".join(available_keyspaces(root)) or "none"
        raise CatalogError(
            f"keyspace {name!r} has no file",
            file=relpath,
            hint=f"create {relpath}{kind} (see kvstack/schemas/keyspace.schema.json) or use one of: {known}",
        )
    doc = read_yaml(path, relpath)
    errors = sorted(
        validator("keyspace").iter_errors(doc.data),
        key=lambda e: doc.position(list(e.absolute_path)) or (0, 0),
    )
    if errors:
        raise _every([doc.error(describe_error(error), list(error.absolute_path)) for error in errors])
    return doc


def build_patterns(doc: YamlDocument, build: Builder[P]) -> tuple[P, ...]:
    """Each pattern of ``doc`` built by ``build``, keys distinct; every pattern's problem raised together."""
    built: list[P] = []
    problems: list[CatalogError] = []
    for name, spec in doc.data["patterns"].items():
        try:
            built.append(build(doc, name, spec))
        except CatalogError as error:
            problems.append(error)
    seen: dict[str, str] = {}
    for pattern in built:
        if pattern.key.text in seen:
            twice = f"key {pattern.key.text!r} is declared twice (patterns {seen[pattern.key.text]} and {pattern.name})"
            problems.append(doc.error(twice, ["patterns", pattern.name, "key"]))
        seen.setdefault(pattern.key.text, pattern.name)
    if problems:
        raise _every(problems)
    return tuple(built)


def _every(problems: list[CatalogError]) -> CatalogError:
    return problems[0] if len(problems) == 1 else CatalogProblems(problems)


def key_pattern(doc: YamlDocument, text: str, where: list[str | int]) -> KeyPattern:
    """``text`` compiled as a key pattern, or a CatalogError at ``where``."""
    try:
        return KeyPattern(text)
    except ValueError as exc:
        raise doc.error(str(exc), where) from exc


def ttl_policy(doc: YamlDocument, spec: Mapping[str, Any], where: list[str | int]) -> TtlPolicy:
    """A pattern's ``ttl`` with its bounds checked."""
    ttl = TtlPolicy(spec["policy"], spec.get("min"), spec.get("max"))
    if ttl.policy == "forbidden" and (ttl.min is not None or ttl.max is not None):
        raise doc.error("a pattern without TTL has no TTL bounds", where, hint="remove min/max")
    if ttl.min is not None and ttl.max is not None and ttl.min > ttl.max:
        raise doc.error(f"TTL min {ttl.min} s is above max {ttl.max} s", where)
    return ttl


def value_spec(doc: YamlDocument, spec: Mapping[str, Any], where: list[str | int]) -> ValueSpec:
    """A value's spec: its JSON Schema, or a regex the whole text must match; ECMA-262 patterns either way."""
    if "regex" in spec:
        if spec["format"] != "text":
            raise doc.error("a regex applies to text values", [*where, "regex"], hint="use `format: text`")
        # JSON Schema's `pattern` searches; the whole text must match (`$` is the very end in ECMA-262).
        schema: Mapping[str, Any] = {"type": "string", "pattern": f"^(?:{spec['regex']})$"}
    else:
        schema = spec["schema"]
    try:
        value_validator = ecma_validator(dict(schema))
    except SchemaError as exc:
        if "regex" in spec:
            raise doc.error(f"not a valid regular expression: {exc.message}", [*where, "regex"]) from exc
        raise doc.error(f"not a valid JSON Schema: {exc.message}", [*where, "schema", *exc.absolute_path]) from exc
    return ValueSpec(format=spec["format"], schema=schema, max_bytes=spec.get("max_bytes"), validator=value_validator)


def _pattern(doc: YamlDocument, name: str, spec: dict[str, Any]) -> Pattern:
    where: list[str | int] = ["patterns", name]
    return Pattern(
        name=name,
        key=key_pattern(doc, spec["key"], [*where, "key"]),
        description=spec.get("description", ""),
        ttl=ttl_policy(doc, spec["ttl"], [*where, "ttl"]),
        value=value_spec(doc, spec["value"], [*where, "value"]),
    )
