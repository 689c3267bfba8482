"""The kvstack Pulumi program: the catalog of the stack, made real in one Cloudflare account.

Composition root: load the catalog once, build one component per app and per token, export the
outputs document (``kvstack``) and, separately and secret, the token values (``kvstack_token_values``).
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from kvstack import names
from kvstack.catalog import PROJECT_FILE, load_catalog
from kvstack_infra.adapter import list_permission_groups
from kvstack_infra.app import AppResources, AppResourcesArgs
from kvstack_infra.document import outputs_document, token_values
from kvstack_infra.stores import store_secrets
from kvstack_infra.tokens import ScopedToken, ScopedTokenArgs


def project_root() -> Path:
    """The folder of Pulumi.yaml: what Pulumi reports, else the folder above this program."""
    reported = pulumi.get_root_directory()
    if reported and (Path(reported) / PROJECT_FILE).is_file():
        return Path(reported)
    return Path(__file__).resolve().parent.parent


def main() -> None:
    catalog = load_catalog(project_root(), pulumi.get_stack())
    apps = [
        AppResources(app.name, AppResourcesArgs(app=app, account_id=catalog.account_id, protect=catalog.protect))
        for app in catalog.apps
    ]
    groups = list_permission_groups(catalog.account_id)
    tokens = [
        ScopedToken(
            token.key,
            ScopedTokenArgs(token=token, account_id=catalog.account_id, permission_groups=groups),
        )
        for token in catalog.tokens
    ]
    pulumi.export(names.OUTPUTS_EXPORT, outputs_document(catalog, apps, tokens))
    pulumi.export(names.TOKEN_VALUES_EXPORT, token_values(tokens))
    if catalog.stores:
        pulumi.export(names.STORE_SECRETS_EXPORT, store_secrets(catalog))


main()
