"""The outputs document reader: one schema, secrets kept apart."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from kvstack import names
from kvstack.errors import OutputsError
from kvstack.outputs import parse_outputs, read_outputs_file

DOCUMENT: dict[str, Any] = {
    "schema_version": 1,
    "project": "kvstack",
    "stack": "dev",
    "environment": "dev",
    "account_id": "0123456789abcdef0123456789abcdef",
    "apps": {
        "codex": {
            "kind": "worker",
            "url": "https://codex.example",
            "pages_project": None,
            "bindings": {
                "CACHE_KV": {
                    "id": "a" * 32,
                    "preview_id": "b" * 32,
                    "title": "codex-dev-CACHE_KV",
                    "preview_title": "codex-dev-CACHE_KV_preview",
                }
            },
        }
    },
    "tokens": {
        "audit": {
            "id": "c" * 32,
            "name": "kvstack-dev-audit",
            "role": "audit",
            "app": None,
            "permissions": ["Workers KV Storage Read"],
            "expires_on": "2027-11-30T00:00:00Z",
        }
    },
}


def test_document_parses_into_frozen_objects() -> None:
    outputs = parse_outputs(DOCUMENT, "test")
    assert outputs.apps["codex"].bindings["CACHE_KV"].preview_id == "b" * 32
    assert outputs.tokens["audit"].value is None
    assert outputs.to_document() == DOCUMENT


def test_stack_output_shape_merges_token_values_only_when_present(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text(json.dumps({names.OUTPUTS_EXPORT: DOCUMENT, names.TOKEN_VALUES_EXPORT: {"audit": "s3cr3t-value"}}))
    outputs = read_outputs_file(path)
    assert outputs.tokens["audit"].value == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(outputs.tokens["audit"])
    assert "value" not in outputs.to_document()["tokens"]["audit"]
    assert outputs.to_document(with_secrets=True)["tokens"]["audit"]["value"] == "s3cr3t-value"


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("apps", "codex", "bindings", "CACHE_KV", "id"), "PLACEHOLDER_CACHE_KV_ID", "apps.codex.bindings.CACHE_KV.id"),
        (("account_id",), "nope", "account_id"),
        (("apps", "codex", "kind"), "lambda", "apps.codex.kind"),
    ],
)
def test_invalid_document_names_the_place(path: tuple[str, ...], value: Any, where: str) -> None:
    document = copy.deepcopy(DOCUMENT)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(OutputsError) as caught:
        parse_outputs(document, "out.json")
    assert where in str(caught.value)
    assert caught.value.exit_code == 2


def test_file_that_is_not_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text('{"schema_version": 1,\n  oops}')
    with pytest.raises(OutputsError, match=r"out.json:2:3: not JSON"):
        read_outputs_file(path)


def test_a_folder_given_as_outputs_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OutputsError, match="cannot read it") as caught:
        read_outputs_file(tmp_path)
    assert caught.value.exit_code == 2
