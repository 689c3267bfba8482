"""Fixtures for render tests: a copy of the project with the seed apps, and outputs documents.

The documents' ids are made up (derived from the titles); their stores entry (which holds no id) is the
program's own, evaluated offline as `kvstack plan` does, so a change of its shape reaches these tests.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from kvstack import names
from kvstack.catalog import load_catalog
from kvstack.plan import plan

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "wrangler-corpus"
# What the runtime token of chatchonk-api holds in these tests; it must never be printed.
TOKEN_VALUE = "tok-SECRET-chatchonk-9f8e7d6c5b4a"
STORE_SECRETS = {
    "rest_url": "https://eu1-SECRET-cat.upstash.io",
    "token": "AX-SECRET-rw-1a2b3c",
    "read_only_token": "AX-SECRET-ro-4d5e6f",
}


def hex_id(seed: str) -> str:
    """A stable fake namespace id (32 lowercase hex) derived from ``seed``."""
    return hashlib.md5(seed.encode()).hexdigest()


def outputs_document(root: Path, stack: str) -> dict[str, Any]:
    """The outputs document `pulumi up` would export for ``stack``, ids derived from the titles.

    Its stores entry is the one the program exports for ``stack`` (kvstack_infra.stores.store_documents).
    """
    catalog = load_catalog(root, stack)
    document: dict[str, Any] = {
        "schema_version": names.OUTPUTS_SCHEMA_VERSION,
        "project": catalog.project,
        "stack": stack,
        "environment": catalog.environment,
        "account_id": catalog.account_id,
        "apps": {
            app.name: {
                "kind": app.kind,
                "url": app.url,
                "pages_project": app.pages_project,
                "bindings": {
                    b.name: {
                        "id": hex_id(b.title),
                        "preview_id": hex_id(b.preview_title),
                        "title": b.title,
                        "preview_title": b.preview_title,
                    }
                    for b in app.bindings
                },
            }
            for app in catalog.apps
        },
        "tokens": {
            t.key: {
                "id": hex_id(t.display_name),
                "name": t.display_name,
                "role": t.role,
                "app": t.app,
                "permissions": list(t.permissions),
                "expires_on": "2027-11-30T00:00:00Z",
            }
            for t in catalog.tokens
        },
    }
    stores = _program_stores(root, stack)
    if stores is not None:  # the program exports no stores entry for a catalog without stores
        document["stores"] = copy.deepcopy(stores)
    return document


_PLANNED_STORES: dict[str, dict[str, Any] | None] = {}


def _program_stores(root: Path, stack: str) -> dict[str, Any] | None:
    """The stores entry of `kvstack plan` for ``stack``, planned once per catalog (the tests copy one catalog)."""
    digest = hashlib.sha256(stack.encode())
    for path in sorted([root / "Pulumi.yaml", root / f"Pulumi.{stack}.yaml", *root.glob("keyspaces/**/*")]):
        if path.is_file():
            digest.update(f"\0{path.relative_to(root)}\0".encode() + path.read_bytes())
    key = digest.hexdigest()
    if key not in _PLANNED_STORES:
        stores = plan(root, stack).document.get("stores")
        _PLANNED_STORES[key] = None if stores is None else dict(stores)
    return _PLANNED_STORES[key]


def write_outputs(path: Path, document: dict[str, Any], *, with_token: bool = True) -> Path:
    """``document`` saved in the shape of `pulumi stack output --json --show-secrets`."""
    data: dict[str, Any] = {names.OUTPUTS_EXPORT: document}
    if with_token:
        data[names.TOKEN_VALUES_EXPORT] = {"chatchonk-api-runtime": TOKEN_VALUE}
        data[names.STORE_SECRETS_EXPORT] = {"energy-cache": STORE_SECRETS}
    path.write_text(json.dumps(data, indent=2))
    return path


def copy_project(target: Path) -> Path:
    """A copy of the project's catalog and seed apps at ``target``, for tests that write files."""
    target.mkdir(parents=True)
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, target / name)
    for folder in ("apps", "keyspaces"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns(".env"))
    return target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project (catalog, seed apps) that tests may write into."""
    return copy_project(tmp_path / "project")
