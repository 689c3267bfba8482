"""Stores (existing databases, not provisioned): their public facts, and their credentials as one secret.

The REST URL and tokens of each store are Pulumi config secrets of the stack
(``pulumi config set --secret kvstack:store.<name>.<field> …``). The program reads them as secrets and
exports them under ``kvstack_store_secrets``, a secret as a whole, so that ``pulumi stack output`` never
prints them without ``--show-secrets``. A credential missing from the stack config is exported as null:
render and the checks then fail naming the config key to set.
"""

from __future__ import annotations

from typing import Any

import pulumi

from kvstack import names
from kvstack.catalog import Catalog

__all__ = ["store_documents", "store_secrets"]


def store_documents(catalog: Catalog) -> dict[str, Any]:
    """What the outputs document says of each store: nothing secret."""
    return {
        store.name: {
            "kind": store.kind,
            "app": store.app,
            "prefix": store.prefix,
            "test_prefix": store.test_prefix,
            "keyspace": store.keyspace,
            "app_url": store.app_url,
        }
        for store in catalog.stores
    }


def store_secrets(catalog: Catalog) -> pulumi.Output[Any]:
    """``{store: {rest_url, token, read_only_token}}`` from the stack's config secrets, as one Pulumi secret."""
    config = pulumi.Config(names.COMPONENT_TYPE_PREFIX)
    values: dict[str, Any] = {}
    for store in catalog.stores:
        values[store.name] = {
            field: config.get_secret(key.split(":", 1)[1]) for field, key in store.secret_keys.items()
        }
    return pulumi.Output.secret(values)
