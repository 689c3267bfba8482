"""The program and stores: config secrets become one secret export; the outputs document names no secret."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from kvstack import names
from kvstack.engine import run_program
from kvstack.outputs import parse_outputs
from tests.pulumi_fake import FakeCloudflare

ROOT = Path(__file__).resolve().parents[2]

SECRETS = {
    "kvstack:store.energy-cache.rest_url": "https://eu1-merry-cat-32748.upstash.io",
    "kvstack:store.energy-cache.token": "AXrw-token-of-the-test",
    "kvstack:store.energy-cache.read_only_token": "AXro-token-of-the-test",
}


def test_store_credentials_from_config_secrets_are_exported_as_one_secret() -> None:
    run = run_program(ROOT, "dev", FakeCloudflare(), secret_config=SECRETS)
    export = run.exports[names.STORE_SECRETS_EXPORT]
    assert export.secret, "the store credentials must be a Pulumi secret"
    assert export.value == {
        "energy-cache": {
            "rest_url": SECRETS["kvstack:store.energy-cache.rest_url"],
            "token": SECRETS["kvstack:store.energy-cache.token"],
            "read_only_token": SECRETS["kvstack:store.energy-cache.read_only_token"],
        }
    }
    assert run.stack_output()[names.STORE_SECRETS_EXPORT] == "[secret]"


def test_the_outputs_document_describes_the_store_and_holds_none_of_its_secrets() -> None:
    run = run_program(ROOT, "prod", FakeCloudflare(), secret_config=SECRETS)
    document = run.exports[names.OUTPUTS_EXPORT]
    assert not document.secret
    jsonschema.validate(document.value, json.loads((ROOT / "kvstack" / "schemas" / "outputs.schema.json").read_text()))
    assert document.value["stores"] == {
        "energy-cache": {
            "kind": "upstash",
            "app": "energy",
            "prefix": "prod",
            "test_prefix": "test",
            "keyspace": "energy",
            "app_url": "https://energy.workers.dev",
        }
    }
    text = json.dumps(document.value)
    assert not any(secret in text for secret in SECRETS.values())
    outputs = parse_outputs(
        document.value, "test", store_secrets=run.stack_output(show_secrets=True)[names.STORE_SECRETS_EXPORT]
    )
    store = outputs.stores["energy-cache"]
    assert (store.prefix, store.token) == ("prod", SECRETS["kvstack:store.energy-cache.token"])
    assert SECRETS["kvstack:store.energy-cache.token"] not in repr(store)
    assert outputs.to_document()["stores"] == document.value["stores"]


def test_a_credential_missing_from_the_stack_config_is_exported_as_null() -> None:
    run = run_program(ROOT, "dev", FakeCloudflare())
    assert run.export(names.STORE_SECRETS_EXPORT) == {
        "energy-cache": {"rest_url": None, "token": None, "read_only_token": None}
    }
    outputs = parse_outputs(
        run.export(names.OUTPUTS_EXPORT), "test", store_secrets=run.export(names.STORE_SECRETS_EXPORT)
    )
    assert outputs.stores["energy-cache"].rest_url is None
