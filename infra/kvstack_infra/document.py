"""The stack's exports: the outputs document (kvstack/schemas/outputs.schema.json) and the secret token values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from kvstack import names
from kvstack.catalog import Catalog
from kvstack_infra.app import AppResources
from kvstack_infra.stores import store_documents
from kvstack_infra.tokens import ScopedToken

__all__ = ["outputs_document", "token_values"]


def outputs_document(
    catalog: Catalog, apps: Sequence[AppResources], tokens: Sequence[ScopedToken]
) -> pulumi.Output[Any]:
    """The outputs document with every id resolved; it holds no secret, so it stays readable.

    Token values are left out on purpose: one secret inside would make Pulumi hide the whole document.
    """
    document = {
        "schema_version": names.OUTPUTS_SCHEMA_VERSION,
        "project": catalog.project,
        "stack": catalog.stack,
        "environment": catalog.environment,
        "account_id": catalog.account_id,
        "apps": {
            resources.app.name: {
                "kind": resources.app.kind,
                "url": resources.app.url,
                "pages_project": resources.pages_project,
                "bindings": {
                    binding: {
                        "id": namespaces.namespace_id,
                        "preview_id": namespaces.preview_namespace_id,
                        "title": namespaces.title,
                        "preview_title": namespaces.preview_title,
                    }
                    for binding, namespaces in resources.bindings.items()
                },
            }
            for resources in apps
        },
        "tokens": {
            token.token.key: {
                "id": token.token_id,
                "name": token.token.display_name,
                "role": token.token.role,
                "app": token.token.app,
                "permissions": list(token.token.permissions),
                "expires_on": token.expires_on,
            }
            for token in tokens
        },
    }
    if catalog.stores:
        document["stores"] = store_documents(catalog)
    return pulumi.Output.from_input(document)


def token_values(tokens: Sequence[ScopedToken]) -> pulumi.Output[Any]:
    """``{token key: value}``, a Pulumi secret as a whole."""
    return pulumi.Output.secret({token.token.key: token.value for token in tokens})
