"""kvstack.local.store_apps: which store apps run, their .dev.vars from the store's secrets, the npm link."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kvstack import names
from kvstack.catalog import load_catalog
from kvstack.local.install import node_packages_dir
from kvstack.local.store_apps import link_node_modules, store_app_names, store_app_specs, store_dev_vars

ROOT = Path(__file__).resolve().parents[2]


def secrets(store: str = "energy-cache") -> dict[str, str]:
    values = {"rest_url": "http://127.0.0.1:1", "token": "rw-token", "read_only_token": "ro-token"}
    return {names.store_secret_key(store, field): value for field, value in values.items()}


@pytest.mark.parametrize(("stack", "prefix"), [("dev", "dev"), ("prod", "prod")])
def test_the_energy_store_app_runs_with_its_stack_prefix_and_the_read_write_token(stack: str, prefix: str) -> None:
    catalog = load_catalog(ROOT, stack)
    assert store_app_names(catalog) == ["energy"]
    [spec] = store_app_specs(catalog, Path("/tree/apps"))
    assert (spec.name, spec.config, spec.section) == ("energy", Path("/tree/apps/energy/wrangler.toml"), "top")
    assert store_dev_vars(catalog, secrets()) == {
        "energy": {
            "KV_REST_API_URL": "http://127.0.0.1:1",
            "KV_REST_API_TOKEN": "rw-token",
            "KV_NAMESPACE": prefix,
            "KV_TEST_NAMESPACE": "test",
        }
    }


def test_without_store_secrets_the_app_gets_none() -> None:
    assert store_dev_vars(load_catalog(ROOT, "dev"), None) == {}


def test_a_store_app_without_a_reference_app_does_not_run() -> None:
    catalog = load_catalog(ROOT, "dev")
    other = dataclasses.replace(catalog.stores[0], app="no-such-app")
    assert store_app_names(dataclasses.replace(catalog, stores=(other,))) == []


def test_node_modules_link_points_at_the_pinned_packages_and_follows_a_new_pin(tmp_path: Path) -> None:
    link_node_modules(tmp_path)
    link = tmp_path / "node_modules"
    assert link.resolve() == (node_packages_dir() / "node_modules").resolve()
    link.unlink()
    link.symlink_to(tmp_path / "an-old-pin")
    link_node_modules(tmp_path)
    assert Path(link.readlink()) == node_packages_dir() / "node_modules"
