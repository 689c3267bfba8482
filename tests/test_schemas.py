"""kvstack's own schemas are valid against their metaschema (kvstack.schemas.validator does not re-check them)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from kvstack.schemas import SCHEMA_DIR

SCHEMAS = sorted(SCHEMA_DIR.glob("*.schema.json"))


def test_every_schema_is_found() -> None:
    assert {path.name for path in SCHEMAS} >= {
        "catalog.schema.json",
        "check-report.schema.json",
        "keyspace.schema.json",
        "outputs.schema.json",
    }


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda path: path.name)
def test_schema_is_valid_against_its_metaschema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.validators.validator_for(schema).check_schema(schema)
