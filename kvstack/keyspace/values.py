"""Validating a stored value against its pattern: size, JSON, then the pattern's JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from kvstack.keyspace.findings import Finding
from kvstack.keyspace.limits import MAX_VALUE_BYTES
from kvstack.keyspace.model import Pattern

__all__ = ["check_value", "json_pointer"]


def json_pointer(path: Iterable[str | int]) -> str:
    """The RFC 6901 pointer of a path: ``["a", 0, "b/c"]`` → ``/a/0/b~1c``; the whole value is ``""``."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _shown(instance: object) -> str:
    text = json.dumps(instance, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(error: ValidationError) -> str:
    """Expected and found in words; jsonschema's own message repeats whole instances (50-item arrays)."""
    keyword, instance = error.validator, error.instance
    wanted: Any = error.validator_value
    if keyword == "maxItems" and isinstance(instance, list):
        return f"expected at most {wanted} items; found {len(instance)}"
    if keyword == "minItems" and isinstance(instance, list):
        return f"expected at least {wanted} items; found {len(instance)}"
    if keyword == "type":
        return f"expected type {wanted}; found {_shown(instance)}"
    if keyword == "required" and isinstance(instance, dict):
        missing = [name for name in wanted if name not in instance]
        return f"expected property {', '.join(map(repr, missing))}; found keys {sorted(instance)}"
    if keyword == "enum":
        return f"expected one of {_shown(wanted)}; found {_shown(instance)}"
    if keyword == "const":
        return f"expected {_shown(wanted)}; found {_shown(instance)}"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength"):
        return f"expected {keyword} {wanted}; found {_shown(instance)}"
    message = error.message
    return message if len(message) <= 160 else message[:157] + "..."


def check_value(pattern: Pattern, key: str, value: str) -> list[Finding]:
    """Findings for ``value`` stored under ``key`` of ``pattern``; empty when it conforms."""
    size = len(value.encode("utf-8"))
    limit = min(pattern.value.max_bytes or MAX_VALUE_BYTES, MAX_VALUE_BYTES)
    if size > limit:
        source = "the pattern's max_bytes" if pattern.value.max_bytes and limit < MAX_VALUE_BYTES else "Cloudflare"
        return [
            Finding(
                "value-too-large", key, pattern.name, f"expected at most {limit} bytes ({source}); found {size} bytes"
            )
        ]
    instance: Any = value
    if pattern.value.format == "json":
        try:
            instance = json.loads(value)
        except json.JSONDecodeError as exc:
            shown = value if len(value) <= 60 else value[:57] + "..."
            return [
                Finding(
                    "not-json",
                    key,
                    pattern.name,
                    f"expected a JSON value; found text that does not parse ({exc.msg} at line {exc.lineno} "
                    f"column {exc.colno}): {shown!r}",
                    pointer="",
                )
            ]
    errors = list(pattern.value.validator.iter_errors(instance))
    if not errors:
        return []
    first = best_match(errors)
    pointer = json_pointer(first.absolute_path)
    at = f"at {pointer}" if pointer else "at the top level"
    more = f" (and {len(errors) - 1} more violation(s))" if len(errors) > 1 else ""
    return [
        Finding(
            "invalid-value",
            key,
            pattern.name,
            f"value does not match the schema of {pattern.name} {at}: {_describe(first)}{more}",
            pointer=pointer,
        )
    ]
