"""Bearer tokens and their policies, enforced per route as Cloudflare does.

A token's capabilities are the union of the permission groups of its ``allow`` policies whose
resources name this account (account-scoped groups) or any user (user-scoped groups such as
"API Tokens Write"), minus those of its ``deny`` policies. Expired, disabled or not-yet-valid
tokens authenticate nobody, and a token whose ``condition.request.ip`` excludes the client address
of the request (the TCP peer, as Cloudflare sees it; never a forwarded-for header) is refused with 9109.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from kvstack.local.api.envelope import ApiError
from kvstack.local.api.limits import CODE_AUTH, CODE_IP_FORBIDDEN
from kvstack.local.api.store import Store
from kvstack.permissions import EVERY_ACCOUNT, Capability, account_resource, group_by_id

__all__ = ["authenticate", "capabilities", "check_address", "ip_allowed", "require", "token_status"]


def token_status(token: dict[str, Any], now: datetime | None = None) -> str:
    """``active``, ``disabled`` or ``expired``, as Cloudflare reports it."""
    now = now or datetime.now(UTC)
    if token.get("status") == "disabled":
        return "disabled"
    expires = token.get("expires_on")
    try:
        if expires and _parse(expires) <= now:
            return "expired"
    except (TypeError, ValueError):  # a record the store should have refused: never valid
        return "expired"
    return "active"


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _not_yet_valid(token: dict[str, Any]) -> bool:
    not_before = token.get("not_before")
    try:
        return bool(not_before) and _parse(str(not_before)) > datetime.now(UTC)
    except ValueError:
        return True


def ip_allowed(condition: dict[str, Any] | None, address: str | None) -> bool:
    """Whether ``address`` passes ``{"request.ip": {"in": [cidr…], "not_in": [cidr…]}}`` (no condition: yes)."""
    rule = (condition or {}).get("request.ip") or {}
    allowed, denied = rule.get("in") or [], rule.get("not_in") or []
    if not allowed and not denied:
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped

    def within(cidrs: list[str]) -> bool:
        return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)

    return (not allowed or within(allowed)) and not within(denied)


def capabilities(token: dict[str, Any], account_id: str) -> frozenset[Capability]:
    allowed: set[Capability] = set()
    denied: set[Capability] = set()
    for policy in token.get("policies", []):
        resources = policy.get("resources") or {}
        for ref in policy.get("permission_groups", []):
            group = group_by_id(str(ref.get("id")))
            if group is None:
                continue
            applies = (
                account_resource(account_id) in resources or EVERY_ACCOUNT in resources
                if group.scope == "com.cloudflare.api.account"
                else any(key.startswith("com.cloudflare.api.user") for key in resources)
            )
            if applies:
                (allowed if policy.get("effect", "allow") == "allow" else denied).update(group.grants)
    return frozenset(allowed - denied)


def authenticate(request: Request, store: Store) -> dict[str, Any]:
    """The token the request carries, or 401 + 10000."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, CODE_AUTH, "Authentication error: send Authorization: Bearer <token>")
    token = store.token_by_value(value.strip())
    if token is None:
        raise ApiError(401, CODE_AUTH, "Authentication error: invalid API token")
    if token_status(token) != "active" or _not_yet_valid(token):
        raise ApiError(401, CODE_AUTH, f"Authentication error: token is {token_status(token)}")
    check_address(token, request)
    return token


def check_address(token: dict[str, Any], request: Request) -> None:
    """403 + 9109 when the token's IP condition excludes the request's client address."""
    address = request.client.host if request.client else None
    if not ip_allowed(token.get("condition"), address):
        raise ApiError(403, CODE_IP_FORBIDDEN, f"Cannot use the access token from location: {address}")


def require(token: dict[str, Any], account_id: str, capability: Capability) -> None:
    """403 + 10000 unless the token's policies grant ``capability`` on this account."""
    if capability not in capabilities(token, account_id):
        raise ApiError(403, CODE_AUTH, f"Authentication error: the token lacks the permission for {capability}")
