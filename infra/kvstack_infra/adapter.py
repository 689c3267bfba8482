"""The one place that knows pulumi-cloudflare: type tokens, import-id formats and the v6 input shapes.

pulumi-cloudflare is pinned exactly because its releases changed these shapes (v6 Pages bindings are
``{BINDING: {namespace_id}}``, a token policy's ``resources`` is a JSON string). Components build
provider resources only through the builders here, and whatever stands in for Cloudflare offline
(``kvstack plan``'s mocks, the local Cloudflare's mocks) recognises and reads them through the
constants and ``read_*`` functions here, which take the *wire* form a Pulumi ``Mocks`` receives
(camelCase keys, plain values).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import pulumi
import pulumi_cloudflare as cloudflare

__all__ = [
    "ACCOUNT_SCOPE",
    "ACCOUNT_TOKEN",
    "KV_NAMESPACE",
    "PAGES_PROJECT",
    "PERMISSION_GROUPS_LIST",
    "PermissionGroupInfo",
    "account_resources",
    "account_token",
    "format_expiry",
    "kv_namespace",
    "list_permission_groups",
    "namespace_id_from_import",
    "namespace_import_id",
    "pages_project",
    "read_display_name",
    "read_import_namespace_id",
    "read_pages_kv_bindings",
    "read_token_policies",
]

# Type tokens exactly as pulumi-cloudflare 6.23.1 registers them.
KV_NAMESPACE: Final = "cloudflare:index/workersKvNamespace:WorkersKvNamespace"
PAGES_PROJECT: Final = "cloudflare:index/pagesProject:PagesProject"
ACCOUNT_TOKEN: Final = "cloudflare:index/accountToken:AccountToken"
# The data source behind GET /accounts/{account_id}/tokens/permission_groups.
PERMISSION_GROUPS_LIST: Final = (
    "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList"
)

# A permission group usable on an account resource lists this scope.
ACCOUNT_SCOPE: Final = "com.cloudflare.api.account"


@dataclass(frozen=True)
class PermissionGroupInfo:
    """One permission group as the account's data source reports it."""

    id: str
    name: str
    scopes: tuple[str, ...]


def namespace_import_id(account_id: str, namespace_id: str) -> str:
    """The import id of an existing KV namespace: ``<account_id>/<namespace_id>``."""
    return f"{account_id}/{namespace_id}"


def namespace_id_from_import(import_id: str) -> str:
    """The namespace id inside an import id made by :func:`namespace_import_id`."""
    return import_id.rsplit("/", 1)[-1]


def account_resources(account_id: str) -> str:
    """A token policy's ``resources``: in v6 a JSON *string* naming the one account, every resource in it."""
    return json.dumps({f"{ACCOUNT_SCOPE}.{account_id}": "*"}, separators=(",", ":"))


def format_expiry(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, the form Cloudflare returns, so the token shows no perpetual diff."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kv_namespace(
    name: str,
    *,
    account_id: str,
    title: str,
    protect: bool,
    adopt_id: str | None,
    parent: pulumi.Resource,
) -> cloudflare.WorkersKvNamespace:
    """A KV namespace; imported instead of created when ``adopt_id`` names an existing one.

    ``protect`` also sets ``retain_on_delete``: a protected namespace can neither be deleted by a
    program change nor lose its data when it is dropped from the stack.
    """
    return cloudflare.WorkersKvNamespace(
        name,
        account_id=account_id,
        title=title,
        opts=pulumi.ResourceOptions(
            parent=parent,
            protect=protect,
            retain_on_delete=protect,
            import_=namespace_import_id(account_id, adopt_id) if adopt_id else None,
        ),
    )


def pages_project(
    name: str,
    *,
    account_id: str,
    project_name: str,
    production_branch: str,
    production_ids: Mapping[str, pulumi.Input[str]],
    preview_ids: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
) -> cloudflare.PagesProject:
    """A Pages project whose production and preview deployments bind the given namespace ids."""
    return cloudflare.PagesProject(
        name,
        account_id=account_id,
        name=project_name,
        production_branch=production_branch,
        deployment_configs=cloudflare.PagesProjectDeploymentConfigsArgs(
            production=cloudflare.PagesProjectDeploymentConfigsProductionArgs(
                kv_namespaces={
                    binding: cloudflare.PagesProjectDeploymentConfigsProductionKvNamespacesArgs(namespace_id=nid)
                    for binding, nid in production_ids.items()
                },
            ),
            preview=cloudflare.PagesProjectDeploymentConfigsPreviewArgs(
                kv_namespaces={
                    binding: cloudflare.PagesProjectDeploymentConfigsPreviewKvNamespacesArgs(namespace_id=nid)
                    for binding, nid in preview_ids.items()
                },
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def account_token(
    name: str,
    *,
    account_id: str,
    token_name: str,
    permission_group_ids: Sequence[str],
    expires_on: datetime | None,
    parent: pulumi.Resource,
) -> cloudflare.AccountToken:
    """An account-owned API token: one allow policy over exactly these groups on exactly this account.

    ``expires_on`` None: no expiry at all (the catalog declares the token ``expires: never``).
    """
    return cloudflare.AccountToken(
        name,
        account_id=account_id,
        name=token_name,
        expires_on=None if expires_on is None else format_expiry(expires_on),
        policies=[
            cloudflare.AccountTokenPolicyArgs(
                effect="allow",
                permission_groups=[
                    cloudflare.AccountTokenPolicyPermissionGroupArgs(id=group_id) for group_id in permission_group_ids
                ],
                resources=account_resources(account_id),
            )
        ],
        opts=pulumi.ResourceOptions(parent=parent),
    )


def list_permission_groups(account_id: str) -> dict[str, PermissionGroupInfo]:
    """Every permission group the account offers for account-owned tokens, by name (one API call)."""
    result = cloudflare.get_account_api_token_permission_groups_list(account_id=account_id)
    groups: dict[str, PermissionGroupInfo] = {}
    for group in result.results or ():
        groups[group.name] = PermissionGroupInfo(id=group.id, name=group.name, scopes=tuple(group.scopes or ()))
    return groups


# Readers of the wire form: what a Mocks' new_resource receives as ``args.inputs``.


def read_display_name(type_token: str, inputs: Mapping[str, Any]) -> str | None:
    """The name people see in the dashboard: a namespace's title, a project's or a token's name."""
    key = "title" if type_token == KV_NAMESPACE else "name"
    value = inputs.get(key)
    return value if isinstance(value, str) else None


def read_import_namespace_id(import_id: str | None) -> str | None:
    """The namespace id an import id points at, or None when nothing is imported."""
    return namespace_id_from_import(import_id) if import_id else None


def read_pages_kv_bindings(inputs: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``{"production": {BINDING: namespace_id}, "preview": {…}}`` from a Pages project's inputs."""
    configs = inputs.get("deploymentConfigs") or {}
    found: dict[str, dict[str, str]] = {}
    for environment in ("production", "preview"):
        namespaces = (configs.get(environment) or {}).get("kvNamespaces") or {}
        found[environment] = {binding: entry.get("namespaceId") for binding, entry in namespaces.items()}
    return found


def read_token_policies(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A token's policies as ``[{effect, permission_group_ids, resources (parsed JSON)}]``."""
    policies = []
    for policy in inputs.get("policies") or ():
        resources = policy.get("resources")
        policies.append(
            {
                "effect": policy.get("effect"),
                "permission_group_ids": [group.get("id") for group in policy.get("permissionGroups") or ()],
                "resources": json.loads(resources) if isinstance(resources, str) else resources,
            }
        )
    return policies
