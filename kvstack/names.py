"""Names shared by every layer: titles, export keys, type tokens, identifier rules.

Defined once here and imported by the Pulumi program, render, checks, audit and local, so a rule
changes in one place. Nothing here imports pulumi.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ACCOUNT_ID_RE",
    "BINDING_NAME_RE",
    "COMPONENT_TYPE_PREFIX",
    "MAX_NAMESPACE_TITLE_BYTES",
    "MAX_PAGES_PROJECT_NAME",
    "NAMESPACE_ID_RE",
    "OUTPUTS_EXPORT",
    "OUTPUTS_SCHEMA_VERSION",
    "PAGES_PROJECT_NAME_RE",
    "PREVIEW_SUFFIX",
    "STORE_SECRETS_EXPORT",
    "STORE_SECRET_FIELDS",
    "TOKEN_VALUES_EXPORT",
    "WRANGLER_TOP_SECTION",
    "is_namespace_id",
    "namespace_title",
    "preview_namespace_title",
    "store_secret_key",
    "token_name",
]

# The one Pulumi stack export that every other layer reads (kvstack/schemas/outputs.schema.json).
OUTPUTS_EXPORT: Final = "kvstack"
# Token values, exported separately and as a Pulumi secret, so that the outputs document itself stays
# readable without --show-secrets (a dict holding one secret becomes secret as a whole in Pulumi).
TOKEN_VALUES_EXPORT: Final = "kvstack_token_values"
OUTPUTS_SCHEMA_VERSION: Final = 1
# The stores' REST URLs and tokens (Pulumi config secrets of each stack), exported apart and secret.
STORE_SECRETS_EXPORT: Final = "kvstack_store_secrets"
STORE_SECRET_FIELDS: Final = ("rest_url", "token", "read_only_token")

# Type tokens of kvstack's own ComponentResources: "kvstack:<module>:<Type>".
COMPONENT_TYPE_PREFIX: Final = "kvstack"

PREVIEW_SUFFIX: Final = "_preview"
# Cloudflare's newer schema caps namespace titles at 512 (bytes, to be safe with non-ASCII).
MAX_NAMESPACE_TITLE_BYTES: Final = 512
# Pages project names become <name>.pages.dev labels: 63 minus room Cloudflare keeps for suffixes.
MAX_PAGES_PROJECT_NAME: Final = 58

PAGES_PROJECT_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# A binding becomes a property of the Worker's `env` object, so it must be a JavaScript identifier.
BINDING_NAME_RE: Final = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
ACCOUNT_ID_RE: Final = re.compile(r"^[0-9a-f]{32}$")
NAMESPACE_ID_RE: Final = re.compile(r"^[0-9a-f]{32}$")

# In the catalog's `sections` list, the top level of a wrangler file; other sections are "env.<name>".
WRANGLER_TOP_SECTION: Final = "top"


def namespace_title(app: str, environment: str, binding: str) -> str:
    """The production namespace title, ``<app>-<env>-<BINDING>``."""
    return f"{app}-{environment}-{binding}"


def preview_namespace_title(app: str, environment: str, binding: str) -> str:
    """The preview twin's title, ``<app>-<env>-<BINDING>_preview``."""
    return namespace_title(app, environment, binding) + PREVIEW_SUFFIX


def token_name(project: str, environment: str, token: str) -> str:
    """The name a scoped API token carries in the dashboard, ``<project>-<env>-<token>``."""
    return f"{project}-{environment}-{token}"


def store_secret_key(store: str, field: str) -> str:
    """The stack config key of a store's secret: ``kvstack:store.<store>.<field>``."""
    return f"kvstack:store.{store}.{field}"


def is_namespace_id(value: object) -> bool:
    """True for a real namespace id (32 lowercase hex); false for placeholders like ``PLACEHOLDER_CHART_KV_ID``."""
    return isinstance(value, str) and NAMESPACE_ID_RE.fullmatch(value) is not None
