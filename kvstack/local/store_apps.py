"""The reference apps of the catalog's stores (energy on Upstash Redis) in the local runtime.

A store's app has no KV binding and no wrangler file in the catalog: the runtime runs the package's
reference app of that name (``workers/apps/<app>/``) in the folder of the store's env file in the state
tree (where render writes that ``.env``), with the store's local credentials as its secrets
(``.dev.vars``: ``KV_REST_API_URL``, ``KV_REST_API_TOKEN``, ``KV_NAMESPACE``, ``KV_TEST_NAMESPACE``), the
values the stack's config secrets hold for the store.

Such an app imports npm packages (``@upstash/redis``) pinned in ``workers/package.json``; they are
installed with wrangler in the user cache, not beside the staged copy. So its folder gets a
``node_modules`` link to that installation, where wrangler's bundler (esbuild, which resolves a bare
import from the importing file's folder upwards) finds them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from kvstack import names
from kvstack.catalog import Catalog
from kvstack.errors import LocalCloudflareError
from kvstack.local.apps import AppSpec, stage_reference_app, write_dev_vars
from kvstack.local.runs import AppRun
from kvstack.workers import REFERENCE_APPS_DIR

__all__ = ["STORE_APP_CONFIG", "link_node_modules", "plan_store_runs", "stage_store_runs", "store_dev_vars"]

# A store app's wrangler file, in its reference app's folder.
STORE_APP_CONFIG = "wrangler.toml"


def plan_store_runs(catalog: Catalog, tree: Path, taken: Sequence[AppRun] = ()) -> list[AppRun]:
    """What runs for each store's app that is not a catalog app: its reference app, if kvstack has one."""
    apps = {app.name for app in catalog.apps}
    folders = {run.spec.config.parent: run.app for run in taken if run.spec is not None}
    runs: list[AppRun] = []
    for store in catalog.stores:
        if store.app in apps or any(run.app == store.app for run in runs):
            continue
        if not (REFERENCE_APPS_DIR / store.app / STORE_APP_CONFIG).is_file():
            line = f"{store.app}: the app of store {store.name}: no reference app, no runtime (its store is checked)"
            runs.append(AppRun(store.app, "none", line))
            continue
        folder = tree / store.env_file.relative_to(catalog.root).parent
        if folder in folders:
            raise LocalCloudflareError(
                f"store {store.name}'s app {store.app} would run in the folder of app {folders[folder]} "
                f"({folder.relative_to(tree)})",
                hint="give the store's env_file its own folder",
            )
        line = (
            f"{store.app}: runs kvstack's reference app for store {store.name} "
            f"(@upstash/redis, keys under {store.prefix}:)"
        )
        runs.append(AppRun(store.app, "reference", line, AppSpec(store.app, folder / STORE_APP_CONFIG)))
    return runs


def stage_store_runs(runs: Sequence[AppRun], catalog: Catalog, secret_config: Mapping[str, str] | None) -> None:
    """Each store app's folder: a fresh copy of its reference app, its ``.dev.vars``, the npm packages' link."""
    values = store_dev_vars(catalog, secret_config)
    for run in runs:
        if run.spec is None:
            continue
        folder = run.spec.config.parent
        stage_reference_app(folder, run.app)
        write_dev_vars(folder, values.get(run.app, {}))
        link_node_modules(folder)


def store_dev_vars(catalog: Catalog, secret_config: Mapping[str, str] | None) -> dict[str, dict[str, str]]:
    """Each store app's secrets and settings, from the store's config secrets (``kvstack:store.<name>.*``)."""
    values: dict[str, dict[str, str]] = {}
    for store in catalog.stores if secret_config else ():
        assert secret_config is not None
        app = values.setdefault(store.app, {})
        app["KV_REST_API_URL"] = secret_config[names.store_secret_key(store.name, "rest_url")]
        app["KV_REST_API_TOKEN"] = secret_config[names.store_secret_key(store.name, "token")]
        app["KV_NAMESPACE"] = store.prefix
        if store.test_prefix:
            app["KV_TEST_NAMESPACE"] = store.test_prefix
    return values


def link_node_modules(folder: Path) -> None:
    """Make ``folder/node_modules`` point at the installed pinned npm packages (replacing an old link)."""
    from kvstack.local.install import node_packages_dir

    link = folder / "node_modules"
    target = node_packages_dir() / "node_modules"
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    if link.is_symlink():
        link.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)
