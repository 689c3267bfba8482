"""kvstack.local.store_apps: what runs for a store's app, its folder, its .dev.vars from the store's secrets."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest

from kvstack import names
from kvstack.catalog import load_catalog
from kvstack.errors import LocalCloudflareError
from kvstack.local.apps import AppSpec
from kvstack.local.install import node_packages_dir
from kvstack.local.runs import AppRun
from kvstack.local.store_apps import link_node_modules, plan_store_runs, stage_store_runs, store_dev_vars
from kvstack.wranglerfile import read_dev_vars

ROOT = Path(__file__).resolve().parents[2]


def secrets(store: str = "energy-cache") -> dict[str, str]:
    values = {"rest_url": "http://127.0.0.1:1", "token": "rw-token", "read_only_token": "ro-token"}
    return {names.store_secret_key(store, field): value for field, value in values.items()}


@pytest.mark.parametrize(("stack", "prefix"), [("dev", "dev"), ("prod", "prod")])
def test_the_energy_store_app_runs_its_reference_app_in_the_folder_of_its_env_file(
    tmp_path: Path, stack: str, prefix: str
) -> None:
    catalog = load_catalog(ROOT, stack)
    [run] = plan_store_runs(catalog, tmp_path)
    assert run.kind == "reference"
    assert run.spec == AppSpec("energy", tmp_path / "apps" / "energy" / "wrangler.toml")
    assert f"keys under {prefix}:" in run.line
    assert store_dev_vars(catalog, secrets()) == {
        "energy": {
            "KV_REST_API_URL": "http://127.0.0.1:1",
            "KV_REST_API_TOKEN": "rw-token",
            "KV_NAMESPACE": prefix,
            "KV_TEST_NAMESPACE": "test",
        }
    }


def test_staging_writes_the_store_s_secrets_privately_and_links_the_pinned_packages(tmp_path: Path) -> None:
    catalog = load_catalog(ROOT, "dev")
    runs = plan_store_runs(catalog, tmp_path)
    stage_store_runs(runs, catalog, secrets())
    folder = tmp_path / "apps" / "energy"
    assert (folder / "worker.js").is_file()
    dev_vars = folder / ".dev.vars"
    assert stat.S_IMODE(dev_vars.stat().st_mode) == 0o600
    assert read_dev_vars(dev_vars)["KV_REST_API_TOKEN"] == "rw-token"
    assert "ro-token" not in dev_vars.read_text()  # the app writes: it gets the read/write token only
    assert (folder / "node_modules").resolve() == (node_packages_dir() / "node_modules").resolve()
    stage_store_runs(runs, catalog, None)  # no store secrets: the app runs unconfigured (its /health says so)
    assert read_dev_vars(dev_vars) == {}


def test_without_store_secrets_the_app_gets_none() -> None:
    assert store_dev_vars(load_catalog(ROOT, "dev"), None) == {}


def test_a_store_app_without_a_reference_app_runs_nothing_and_says_so(tmp_path: Path) -> None:
    catalog = load_catalog(ROOT, "dev")
    other = dataclasses.replace(catalog.stores[0], app="no-such-app")
    [run] = plan_store_runs(dataclasses.replace(catalog, stores=(other,)), tmp_path)
    assert (run.kind, run.spec) == ("none", None)
    assert "no reference app" in run.line


def test_a_store_app_in_the_folder_of_a_running_app_is_refused(tmp_path: Path) -> None:
    taken = AppRun("codex", "reference", "", AppSpec("codex", tmp_path / "apps" / "energy" / "wrangler.toml"))
    with pytest.raises(LocalCloudflareError, match="would run in the folder of app codex"):
        plan_store_runs(load_catalog(ROOT, "dev"), tmp_path, [taken])


def test_node_modules_link_follows_a_new_pin(tmp_path: Path) -> None:
    link = tmp_path / "node_modules"
    link.symlink_to(tmp_path / "an-old-pin")
    link_node_modules(tmp_path)
    assert Path(link.readlink()) == node_packages_dir() / "node_modules"
