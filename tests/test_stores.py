"""Stores in the catalog: the seed's Upstash store loads per stack; each mistake is refused at its line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kvstack.catalog import load_catalog
from kvstack.errors import CatalogError

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 22, tzinfo=UTC)
SECRET = "AXsecret-token-value-never-shown"

Doc = dict[str, Any]
Mutation = Callable[[Doc, Doc], None]


def _store(project: Doc) -> Doc:
    store: Doc = project["config"]["kvstack:catalog"]["value"]["stores"]["energy-cache"]
    return store


def _load(tmp_path: Path, mutate: Mutation) -> Any:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    mutate(project, stack)
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return load_catalog(tmp_path, "dev", now=NOW)


def test_the_seed_store_has_each_stack_s_environment_as_prefix_and_its_secret_keys() -> None:
    for stack in ("dev", "prod"):
        store = load_catalog(ROOT, stack, now=NOW).store("energy-cache")
        assert (store.kind, store.app, store.keyspace, store.prefix) == ("upstash", "energy", "energy", stack)
        assert store.test_prefix == "test"
        assert store.env_file == ROOT / "apps" / "energy" / ".env"
        assert store.secret_keys == {
            "rest_url": "kvstack:store.energy-cache.rest_url",
            "token": "kvstack:store.energy-cache.token",
            "read_only_token": "kvstack:store.energy-cache.read_only_token",
        }
        assert store.key("latest:system:7") == f"{stack}:latest:system:7"
        assert store.app_url == {"dev": "https://energy-dev.workers.dev", "prod": "https://energy.workers.dev"}[stack]


def test_a_stack_sets_its_own_prefix_and_its_secrets_as_pulumi_secrets(tmp_path: Path) -> None:
    def mutate(_project: Doc, stack: Doc) -> None:
        stack["config"]["kvstack:stores"] = {"energy-cache": {"prefix": "staging"}}
        stack["config"]["kvstack:store.energy-cache.token"] = {"secure": "AAABAJ0ciphertext"}

    store = _load(tmp_path, mutate).store("energy-cache")
    assert store.prefix == "staging"
    assert store.secrets_set == ("token",)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda p, _s: _store(p).update(kind="redis"), "'redis' is not one of 'upstash'"),
        (lambda p, _s: _store(p).pop("keyspace"), "'keyspace' is required"),
        (lambda p, _s: _store(p).update(env_file="../elsewhere/.env"), "is outside the project folder"),
        (
            lambda p, _s: _store(p).update(env_file="apps/chatchonk-api/.env"),
            "apps/chatchonk-api/.env is already the env file of app chatchonk-api",
        ),
        (lambda p, _s: _store(p).update(extra=1), "unknown key(s) 'extra'"),
        (
            lambda _p, s: s["config"].update({"kvstack:stores": {"energy": {"prefix": "dev"}}}),
            "store 'energy' is not declared in Pulumi.yaml",
        ),
        (
            lambda _p, s: s["config"].update({"kvstack:stores": {"energy-cache": {"prefix": "Dev:"}}}),
            "'Dev:' does not match",
        ),
        (
            lambda _p, s: s["config"].update({"kvstack:stores": {"energy-cache": {"app_url": "energy.workers.dev"}}}),
            "'energy.workers.dev' does not match",
        ),
        (
            lambda _p, s: s["config"].update({"kvstack:stores": {"energy-cache": {"prefix": "test"}}}),
            "under 'test', the prefix of its tests",
        ),
        (
            lambda _p, s: s["config"].update({"kvstack:store.other.token": {"secure": "x"}}),
            "kvstack:store.other.token is for store 'other', which Pulumi.yaml does not declare",
        ),
        (
            lambda _p, s: s["config"].update({"kvstack:store.energy-cache.url": {"secure": "x"}}),
            "unknown key(s) 'kvstack:store.energy-cache.url'",
        ),
    ],
)
def test_a_malformed_store_is_refused_with_file_line_and_rule(tmp_path: Path, mutate: Mutation, expected: str) -> None:
    with pytest.raises(CatalogError) as caught:
        _load(tmp_path, mutate)
    assert expected in str(caught.value)
    assert caught.value.line is not None


def test_a_credential_written_in_clear_is_refused_without_being_repeated(tmp_path: Path) -> None:
    def mutate(_project: Doc, stack: Doc) -> None:
        stack["config"]["kvstack:store.energy-cache.read_only_token"] = SECRET

    with pytest.raises(CatalogError) as caught:
        _load(tmp_path, mutate)
    text = str(caught.value) + str(caught.value.hint)
    assert "is a plain value; store credentials are Pulumi secrets" in text
    assert "pulumi config set --secret kvstack:store.energy-cache.read_only_token" in text
    assert SECRET not in text
    assert caught.value.file == "Pulumi.dev.yaml"
    assert caught.value.line is not None
