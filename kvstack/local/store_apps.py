"""The reference apps of the catalog's stores (energy on Upstash Redis) in the local runtime.

A store's app has no KV binding and no wrangler file in the catalog: the runtime runs the package's
reference app of that name (``workers/apps/<app>/``, staged like the others) with the store's local
credentials as its secrets (``.dev.vars``: ``KV_REST_API_URL``, ``KV_REST_API_TOKEN``, ``KV_NAMESPACE``,
``KV_TEST_NAMESPACE``), the values the stack's config secrets hold for the store.

Such an app imports npm packages (``@upstash/redis``) pinned in ``workers/package.json``; they are
installed with wrangler in the user cache, not beside the staged copy. So the staging folder gets a
``node_modules`` link to that installation, where wrangler's bundler (esbuild, which resolves a bare
import from the importing file's folder upwards) finds them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kvstack import names
from kvstack.catalog import Catalog
from kvstack.local.apps import AppSpec
from kvstack.workers import REFERENCE_APPS_DIR

__all__ = ["STORE_APP_CONFIG", "link_node_modules", "store_app_names", "store_app_specs", "store_dev_vars"]

# A store app's wrangler file, in its reference app's folder.
STORE_APP_CONFIG = "wrangler.toml"


def store_app_names(catalog: Catalog) -> list[str]:
    """The apps of the catalog's stores that have a reference app to run (and are not catalog apps)."""
    apps = {app.name for app in catalog.apps}
    found: list[str] = []
    for store in catalog.stores:
        reference = REFERENCE_APPS_DIR / store.app / STORE_APP_CONFIG
        if store.app not in apps and store.app not in found and reference.is_file():
            found.append(store.app)
    return found


def store_app_specs(catalog: Catalog, rendered_dir: Path) -> list[AppSpec]:
    """What the runtime runs for each store app: its staged wrangler file's top level."""
    return [AppSpec(name=name, config=rendered_dir / name / STORE_APP_CONFIG) for name in store_app_names(catalog)]


def store_dev_vars(catalog: Catalog, secret_config: Mapping[str, str] | None) -> dict[str, dict[str, str]]:
    """Each store app's secrets and settings, from the store's config secrets (``kvstack:store.<name>.*``)."""
    values: dict[str, dict[str, str]] = {}
    for store in catalog.stores:
        if store.app not in store_app_names(catalog) or not secret_config:
            continue
        app = values.setdefault(store.app, {})
        app["KV_REST_API_URL"] = secret_config[names.store_secret_key(store.name, "rest_url")]
        app["KV_REST_API_TOKEN"] = secret_config[names.store_secret_key(store.name, "token")]
        app["KV_NAMESPACE"] = store.prefix
        if store.test_prefix:
            app["KV_TEST_NAMESPACE"] = store.test_prefix
    return values


def link_node_modules(staging_dir: Path) -> None:
    """Make ``staging_dir/node_modules`` point at the installed pinned npm packages (replacing an old link)."""
    from kvstack.local.install import node_packages_dir

    link = staging_dir / "node_modules"
    target = node_packages_dir() / "node_modules"
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    if link.is_symlink():
        link.unlink()
    staging_dir.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)
