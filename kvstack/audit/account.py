"""What the audit reads from the account beyond namespaces and keys: Pages projects, Worker scripts, tokens.

Every call goes through the adapter (:class:`~kvstack.cloudflare.CloudflareApi`): its SDK client, its
transport (retries, rate limit, budget) and its error mapping. Only reads: the audit token is read-only.

A token's live state: the audit token may not read other tokens (Cloudflare answers 403 without API Tokens
Read), but any token may verify itself (``GET …/tokens/verify``). So each token whose value the outputs carry
verifies itself: Cloudflare answers its status (active, disabled, expired) and expiry, or refuses it (401),
which means it authenticates nobody. Without a value the audit token's read is tried, then the outputs judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kvstack.cloudflare import CloudflareApi
from kvstack.errors import AuthenticationError
from kvstack.outputs import Outputs

__all__ = ["ScriptBindings", "TokenState", "list_script_bindings", "token_states"]


@dataclass(frozen=True)
class ScriptBindings:
    """A deployed Worker script and the KV namespace ids it binds, by binding name."""

    script: str
    namespaces: dict[str, str]


@dataclass(frozen=True)
class TokenState:
    """What the account says of one token: its details, or that it refused it (``rejected``, with why)."""

    details: dict[str, Any] | None
    how: str  # "verified" (the token itself), "read" (the audit token read it), or "unread"
    rejected: str | None = None


def list_script_bindings(api: CloudflareApi) -> list[ScriptBindings]:
    """Every Worker script with the KV namespaces its settings bind."""
    found: list[ScriptBindings] = []
    for name in api.list_scripts():
        settings = api.get_script_settings(name) or {}
        namespaces = {
            str(b.get("name")): str(b.get("namespace_id"))
            for b in settings.get("bindings") or []
            if isinstance(b, dict) and b.get("type") == "kv_namespace" and b.get("namespace_id")
        }
        found.append(ScriptBindings(name, namespaces))
    return found


def token_states(api: CloudflareApi, outputs: Outputs) -> dict[str, TokenState]:
    """Each token of the outputs (by key) as the account sees it now."""
    states: dict[str, TokenState] = {}
    for key, token in outputs.tokens.items():
        if token.value:
            try:
                states[key] = TokenState(api.with_token(token.value).verify_token(), "verified")
            except AuthenticationError as refused:
                states[key] = TokenState(None, "verified", rejected=refused.message)
            continue
        try:
            details = api.get_token(token.id)
        except AuthenticationError:  # the audit token may not read tokens
            details = None
        states[key] = TokenState(details, "read" if details is not None else "unread")
    return states
