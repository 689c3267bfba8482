"""A scoped API token the outputs declare: what Cloudflare says of it, with its own value and as an admin."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from kvstack.catalog import Token
from kvstack.cloudflare import CloudflareApi
from kvstack.errors import AuthenticationError
from kvstack.outputs import TokenOutputs
from kvstack.permissions import group_by_id

__all__ = ["TokenResource", "parse_time"]


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 time from the API, None when absent."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class TokenResource:
    api: CloudflareApi
    declared: Token
    output: TokenOutputs
    account_id: str

    @property
    def app(self) -> str | None:
        return self.declared.app

    @property
    def label(self) -> str:
        return f"token {self.declared.key} ({self.output.name}, id {self.output.id})"

    @property
    def has_value(self) -> bool:
        return bool(self.output.value)

    @cached_property
    def verified(self) -> dict[str, Any]:
        """``/user/tokens/verify`` called with the token itself."""
        assert self.output.value is not None
        try:
            return self.api.with_token(self.output.value).verify_token()
        except AuthenticationError as error:
            # A revoked or expired token is a verdict about the token, not a configuration error.
            return {"status": f"rejected: HTTP {error.status}, codes {list(error.codes)}"}

    @property
    def status(self) -> str:
        return str(self.verified.get("status"))

    @property
    def expires_on(self) -> datetime | None:
        return parse_time(self.verified.get("expires_on")) or parse_time((self.details or {}).get("expires_on"))

    @cached_property
    def details(self) -> dict[str, Any] | None:
        """The token as the account sees it (policies), read with the run's API token."""
        return self.api.get_token(self.output.id)

    @property
    def policies(self) -> list[dict[str, Any]]:
        return list((self.details or {}).get("policies") or [])

    @property
    def permission_groups(self) -> set[str]:
        """Names of every permission group its allow policies grant (by name, or by id when unnamed)."""
        names: set[str] = set()
        for policy in self.policies:
            if policy.get("effect", "allow") != "allow":
                continue
            for group in policy.get("permission_groups") or []:
                known = group_by_id(str(group.get("id")))
                names.add(str(group.get("name") or (known.name if known else group.get("id"))))
        return names

    @property
    def resources(self) -> set[str]:
        """Every resource key its policies name (``com.cloudflare.api.account.<id>``, …)."""
        keys: set[str] = set()
        for policy in self.policies:
            resources = policy.get("resources") or {}
            if isinstance(resources, str):  # some API versions return the JSON-encoded string
                resources = json.loads(resources)
            keys.update(resources)
        return keys
