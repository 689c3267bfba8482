"""kvstack's own state of the local Cloudflare: namespaces registry, Pages projects, scripts, tokens.

KV *data* lives in Miniflare's storage; this file holds what Miniflare has no notion of (titles,
projects, scripts' settings, tokens and their policies). Token values are never stored, only their
SHA-256. Every change is saved atomically, so a restarted server keeps the account as it was.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kvstack.local.state import atomic_write_text

__all__ = ["Store", "hash_token", "new_id", "now_rfc3339"]


def new_id() -> str:
    """A Cloudflare-shaped id: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def hash_token(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Store:
    """The whole account, as JSON-able dicts keyed by id or name."""

    path: Path
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    scripts: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: Path) -> Store:
        path = folder / "account.json"
        if not path.is_file():
            return cls(path=path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(path=path, **data)

    def save(self) -> None:
        data = {
            "namespaces": self.namespaces,
            "projects": self.projects,
            "scripts": self.scripts,
            "tokens": self.tokens,
        }
        atomic_write_text(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n", mode=0o600)

    def token_by_value(self, value: str) -> dict[str, Any] | None:
        digest = hash_token(value)
        for token in self.tokens.values():
            if secrets.compare_digest(token["value_sha256"], digest):
                return token
        return None

    def namespace_by_title(self, title: str) -> dict[str, Any] | None:
        return next((ns for ns in self.namespaces.values() if ns["title"] == title), None)
