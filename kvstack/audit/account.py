"""What the audit reads from the account beyond namespaces and keys: Pages projects, Worker scripts, tokens.

Every call goes through the adapter (:class:`~kvstack.cloudflare.CloudflareApi`): its SDK client, its
transport (retries, rate limit, budget) and its error mapping. Only reads: the audit token is read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kvstack.cloudflare import CloudflareApi
from kvstack.errors import AuthenticationError

__all__ = ["ScriptBindings", "list_pages_projects", "list_script_bindings", "read_token"]


@dataclass(frozen=True)
class ScriptBindings:
    """A deployed Worker script and the KV namespace ids it binds, by binding name."""

    script: str
    namespaces: dict[str, str]


def list_pages_projects(api: CloudflareApi) -> list[dict[str, Any]]:
    """Every Pages project of the account, page by page."""
    projects: list[dict[str, Any]] = []
    page = 1
    while True:
        envelope = api._call(  # the adapter's one error mapping; no public raw call exists
            "list Pages projects",
            lambda page=page: api.sdk.pages.projects.with_raw_response.list(  # type: ignore[misc]
                account_id=api.account_id, page=page, per_page=10
            ),
        )
        items = envelope.get("result") or []
        projects.extend(dict(item) for item in items)
        info = envelope.get("result_info") or {}
        total = info.get("total_count")
        if not items or (isinstance(total, int) and len(projects) >= total):
            return projects
        page += 1


def list_script_bindings(api: CloudflareApi) -> list[ScriptBindings]:
    """Every Worker script with the KV namespaces its settings bind."""
    envelope = api._call(
        "list Worker scripts",
        lambda: api.sdk.workers.scripts.with_raw_response.list(account_id=api.account_id),
    )
    found: list[ScriptBindings] = []
    for script in envelope.get("result") or []:
        name = str(script.get("id"))
        settings = api.get_script_settings(name) or {}
        namespaces = {
            str(b.get("name")): str(b.get("namespace_id"))
            for b in settings.get("bindings") or []
            if isinstance(b, dict) and b.get("type") == "kv_namespace" and b.get("namespace_id")
        }
        found.append(ScriptBindings(name, namespaces))
    return found


def read_token(api: CloudflareApi, token_id: str) -> dict[str, Any] | None:
    """A token's live details, or None when the audit token may not read tokens (Cloudflare answers 403)."""
    try:
        return api.get_token(token_id)
    except AuthenticationError:
        return None
