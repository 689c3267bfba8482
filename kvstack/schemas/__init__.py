"""The JSON Schemas kvstack ships (``kvstack/schemas/*.schema.json``), loaded once; errors as readable lines.

JSON Schema's ``pattern`` is an ECMA-262 regular expression, where ``$`` matches only at the very end;
the jsonschema package runs it through Python's ``re.search``, where ``$`` also matches before a final
newline, so ``^[0-9a-f]{32}$`` accepted an account id ending in ``\n``. Every validator made here
(kvstack's own schemas and the value schemas users write in keyspaces) evaluates ``pattern`` and
``patternProperties`` with ``regress``, an ECMA-262 engine, as the specification says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, cast

import jsonschema
import regress
from jsonschema.exceptions import ValidationError

__all__ = ["SCHEMA_DIR", "describe_error", "ecma_validator", "load_schema", "validator"]

SCHEMA_DIR = Path(__file__).resolve().parent


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``kvstack/schemas/<name>.schema.json`` as a dict."""
    with (SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> regress.Regex:
    return regress.Regex(pattern, "u")


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and _regex(pattern).find(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if isinstance(key, str) and _regex(pattern).find(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


@cache
def _ecma_class(cls: type[Any]) -> type[Any]:
    keywords = {"pattern": _pattern, "patternProperties": _pattern_properties}
    return cast(type[Any], jsonschema.validators.extend(cls, keywords))  # type: ignore[no-untyped-call]


def ecma_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for ``schema`` (its own ``$schema`` dialect, default 2020-12) with ECMA-262 patterns and formats.

    Raises :class:`jsonschema.exceptions.SchemaError` when ``schema`` is not a valid schema, and when a
    pattern is not an ECMA-262 regular expression.
    """
    base = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    base.check_schema(schema)
    for node in _subschemas(schema):
        for pattern in _patterns_of(node):
            try:
                _regex(pattern)
            except regress.RegressError as exc:
                message = f"{pattern!r} is not an ECMA-262 regular expression: {exc}"
                raise jsonschema.exceptions.SchemaError(message) from exc
    cls = _ecma_class(base)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)  # type: ignore[no-any-return]


def _subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _patterns_of(node: dict[str, Any]) -> list[str]:
    found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
    if isinstance(node.get("patternProperties"), dict):
        found.extend(str(key) for key in node["patternProperties"])
    return found


@cache
def validator(name: str, definition: str | None = None) -> jsonschema.protocols.Validator:
    """A validator for the whole schema ``name``, or for its ``$defs/<definition>``."""
    schema = load_schema(name)
    if definition is not None:
        schema = {**schema, "$ref": f"#/$defs/{definition}"}
    cls = _ecma_class(jsonschema.validators.validator_for(schema))
    # No check_schema here: it costs 0.1 s on every command, and these schemas are kvstack's own,
    # checked against their metaschema by tests/test_schemas.py. User-written schemas are still checked.
    return cls(schema, format_checker=cls.FORMAT_CHECKER)  # type: ignore[no-any-return]


def describe_error(error: ValidationError) -> str:
    """What is wrong and what is allowed, in words rather than schema keywords."""
    keyword = error.validator
    value: Any = error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = str(schema["description"]) if "description" in schema else None
    if keyword == "additionalProperties":
        props = sorted(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
        extra = sorted(set(error.instance) - set(props)) if isinstance(error.instance, dict) else []
        message = f"unknown key(s) {', '.join(map(repr, extra))}"
        return message + (f"; allowed keys: {', '.join(props)}" if props else "")
    if keyword == "required":
        return str(error.message).replace("is a required property", "is required")
    if keyword == "pattern":
        text = f"{error.instance!r} does not match {value}"
        return text + (f" ({allowed})" if allowed else "")
    if keyword == "maxLength":
        return f"{error.instance!r} is longer than {value} characters" + (f" ({allowed})" if allowed else "")
    if keyword == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(repr, value))}"
    if keyword == "type":
        return f"{error.instance!r} is not of type {value}"
    if keyword == "propertyNames":
        return str(error.message)
    return str(error.message) + (f" ({allowed})" if allowed else "")
