"""The JavaScript that wrangler runs for the local Cloudflare, shipped inside the package.

    router/             kvstack's primary worker: routes /<app>/… to each app (a service binding each)
    storage/            the storage worker: KV of any namespace id for the local API
    apps/<app>/         the reference apps standing in for the seed apps (contracts: docs/contracts.md)
    apps/_shared/       what the reference apps share; staged into each one's folder as ``_shared/``
    package.json        wrangler, pinned exactly, with package-lock.json: what `kvstack local install` installs

Found through this package's own folder, never through the repository's layout, so an installed
kvstack (`pip install .`, `pipx install`) finds them as the repository does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = [
    "LOCK_FILE",
    "PACKAGE_JSON",
    "REFERENCE_APPS_DIR",
    "ROUTER_DIR",
    "SHARED_APP_MODULES",
    "STORAGE_DIR",
    "WORKERS_DIR",
]

WORKERS_DIR: Final = Path(__file__).resolve().parent
ROUTER_DIR: Final = WORKERS_DIR / "router"
STORAGE_DIR: Final = WORKERS_DIR / "storage"
REFERENCE_APPS_DIR: Final = WORKERS_DIR / "apps"
# The reference apps import it as "./_shared/…": the folder's name is the same in the package and when staged.
SHARED_APP_MODULES: Final = REFERENCE_APPS_DIR / "_shared"
PACKAGE_JSON: Final = WORKERS_DIR / "package.json"
LOCK_FILE: Final = WORKERS_DIR / "package-lock.json"
