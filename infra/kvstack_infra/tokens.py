"""Scoped API tokens: account-owned, one allow policy on the one account, groups looked up by name.

Account-owned tokens (``AccountToken``) rather than user tokens: they belong to the account, not to
whoever ran ``pulumi up``, so they survive that person leaving; the permission groups they can hold
are exactly what the account's own data source lists; and they cannot reach other accounts of the
same user.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from kvstack.catalog import CATALOG_KEY, PROJECT_FILE, Token
from kvstack.errors import CatalogError
from kvstack_infra import adapter, component_type

__all__ = ["ScopedToken", "ScopedTokenArgs", "resolve_permission_groups"]

# What each role may hold at most: a runtime token only touches KV data, an audit token only reads.
_RUNTIME_GROUPS = frozenset({"Workers KV Storage Read", "Workers KV Storage Write"})


@dataclass(frozen=True)
class ScopedTokenArgs:
    """A token of the catalog, its account, and the account's permission groups by name."""

    token: Token
    account_id: str
    permission_groups: Mapping[str, adapter.PermissionGroupInfo]


class ScopedToken(pulumi.ComponentResource):
    """An account-owned API token holding exactly the catalog's permission groups on this account only.

    ``value`` is a Pulumi secret. Outputs: id, name, role, app, permissions (names), expires_on (None for a
    token the catalog declares ``expires: never``).
    """

    token_id: pulumi.Output[str]
    value: pulumi.Output[str]

    def __init__(self, name: str, args: ScopedTokenArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(component_type("tokens", "ScopedToken"), name, None, opts)
        token = args.token
        group_ids = resolve_permission_groups(token, args.permission_groups)
        created = adapter.account_token(
            name,
            account_id=args.account_id,
            token_name=token.display_name,
            permission_group_ids=group_ids,
            expires_on=token.expires_on,
            parent=self,
        )
        self.token = token
        self.token_id = created.id
        # The Pulumi CLI marks `value` secret from the provider schema; mocks do not. Say it here, once.
        self.value = pulumi.Output.secret(created.value)
        self.expires_on = None if token.expires_on is None else adapter.format_expiry(token.expires_on)
        self.register_outputs(
            {
                "id": self.token_id,
                "name": token.display_name,
                "role": token.role,
                "app": token.app,
                "permissions": list(token.permissions),
                "expires_on": self.expires_on,
                "value": self.value,
            }
        )


def resolve_permission_groups(token: Token, groups: Mapping[str, adapter.PermissionGroupInfo]) -> list[str]:
    """The ids of the token's permission groups, in the catalog's order.

    Raises CatalogError naming the token and the group when the account does not offer a group,
    offers it for something other than accounts, or the role may not hold it.
    """
    where = f"config.{CATALOG_KEY}.value.tokens.{token.key}.permissions"
    ids = []
    for group_name in token.permissions:
        group = groups.get(group_name)
        if group is None:
            close = difflib.get_close_matches(group_name, list(groups), n=3)
            raise CatalogError(
                f"token {token.key} asks for permission group {group_name!r}, which the account's permission "
                f"groups ({len(groups)} listed by the Cloudflare API) do not include",
                file=PROJECT_FILE,
                yaml_path=where,
                hint=f"did you mean {' or '.join(map(repr, close))}?"
                if close
                else "use a group name exactly as the dashboard's token page shows it",
            )
        if group.scopes and adapter.ACCOUNT_SCOPE not in group.scopes:
            raise CatalogError(
                f"token {token.key} asks for permission group {group_name!r}, which applies to "
                f"{', '.join(group.scopes)}, not to an account",
                file=PROJECT_FILE,
                yaml_path=where,
                hint="account-owned tokens hold only account-scoped groups",
            )
        _check_role(token, group_name, where)
        ids.append(group.id)
    return ids


def _check_role(token: Token, group_name: str, where: str) -> None:
    if token.role == "runtime" and group_name not in _RUNTIME_GROUPS:
        raise CatalogError(
            f"runtime token {token.key} asks for permission group {group_name!r}; "
            "a runtime token holds Workers KV storage groups only",
            file=PROJECT_FILE,
            yaml_path=where,
            hint="give it `Workers KV Storage Write` and nothing else",
        )
    if token.role == "audit" and not group_name.endswith(" Read"):
        raise CatalogError(
            f"audit token {token.key} asks for permission group {group_name!r}; an audit token is read-only",
            file=PROJECT_FILE,
            yaml_path=where,
            hint="keep only `… Read` groups",
        )
