"""The JSON Schemas kvstack ships (``kvstack/schemas/*.schema.json``), loaded once; errors as readable lines."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

__all__ = ["SCHEMA_DIR", "describe_error", "load_schema", "validator"]

SCHEMA_DIR = Path(__file__).resolve().parent


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``kvstack/schemas/<name>.schema.json`` as a dict."""
    with (SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@cache
def validator(name: str, definition: str | None = None) -> jsonschema.protocols.Validator:
    """A validator for the whole schema ``name``, or for its ``$defs/<definition>``."""
    schema = load_schema(name)
    if definition is not None:
        schema = {**schema, "$ref": f"#/$defs/{definition}"}
    cls = jsonschema.validators.validator_for(schema)
    # No check_schema here: it costs 0.1 s on every command, and these schemas are kvstack's own,
    # checked against their metaschema by tests/test_schemas.py. User-written schemas are still checked.
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


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
