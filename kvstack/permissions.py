"""Cloudflare permission groups kvstack knows, and what each one allows.

The Pulumi program never uses these ids: it looks permission groups up by name through the provider's
data source. This table is what the *offline* worlds answer with — `kvstack plan`'s mocks and the
local Cloudflare's `/permission_groups` — and what the local Cloudflare enforces per route, so that
a token's policies mean the same thing in plan, local and checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "EVERY_ACCOUNT",
    "PERMISSION_GROUPS",
    "Capability",
    "PermissionGroup",
    "account_resource",
    "capabilities_of",
    "group_by_id",
    "group_by_name",
]

# What a request needs. Routes of the local Cloudflare map to exactly one capability.
Capability = Literal[
    "kv.read",
    "kv.write",
    "pages.read",
    "pages.write",
    "scripts.read",
    "scripts.write",
    "account.read",
    "analytics.read",
    "tokens.read",
    "tokens.write",
]


@dataclass(frozen=True)
class PermissionGroup:
    id: str
    name: str
    scope: str
    grants: frozenset[Capability]


def _group(id_: str, name: str, *grants: Capability, scope: str = "com.cloudflare.api.account") -> PermissionGroup:
    return PermissionGroup(id=id_, name=name, scope=scope, grants=frozenset(grants))


# A write group implies its read group, as on Cloudflare.
PERMISSION_GROUPS: Final[tuple[PermissionGroup, ...]] = (
    _group("8b47d2786a534c08a1f94ee8f9f599ef", "Workers KV Storage Read", "kv.read"),
    _group("f7f0eda5697f475c90846e879bab8666", "Workers KV Storage Write", "kv.read", "kv.write"),
    _group("1a71c399035b4950a1bd1466bbe4f420", "Workers Scripts Read", "scripts.read"),
    _group("e086da7e2179491d91ee5f35b3ca210a", "Workers Scripts Write", "scripts.read", "scripts.write"),
    _group("e247aedd66bd41cc9193af0213416666", "Pages Read", "pages.read"),
    _group("8d28297797f24fb8a0c332fe0866ec89", "Pages Write", "pages.read", "pages.write"),
    _group("c1fde68c7bcc44588cbb6ddbc16d6480", "Account Settings Read", "account.read"),
    _group("b89a480218d04ceb98b4fe57ca29dc1f", "Account Analytics Read", "analytics.read"),
    _group("0cc3a61731504c89b99ec1be78b77aa0", "API Tokens Read", "tokens.read", scope="com.cloudflare.api.user"),
    _group(
        "686d18d5ac6c441c867cbf6771e58a0a",
        "API Tokens Write",
        "tokens.read",
        "tokens.write",
        scope="com.cloudflare.api.user",
    ),
)

_BY_NAME: Final = {group.name: group for group in PERMISSION_GROUPS}
_BY_ID: Final = {group.id: group for group in PERMISSION_GROUPS}


def group_by_name(name: str) -> PermissionGroup | None:
    return _BY_NAME.get(name)


def group_by_id(group_id: str) -> PermissionGroup | None:
    return _BY_ID.get(group_id)


def capabilities_of(group_ids: list[str] | tuple[str, ...]) -> frozenset[Capability]:
    """Everything a set of permission groups allows (unknown ids allow nothing)."""
    granted: set[Capability] = set()
    for group_id in group_ids:
        group = _BY_ID.get(group_id)
        if group is not None:
            granted |= group.grants
    return frozenset(granted)


# The policy resource key that grants a token every account its owner can reach.
EVERY_ACCOUNT = "com.cloudflare.api.account.*"


def account_resource(account_id: str) -> str:
    """The policy resource key that scopes a token to one account."""
    return f"com.cloudflare.api.account.{account_id}"
