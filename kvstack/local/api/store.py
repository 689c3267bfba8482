"""kvstack's own state of the local Cloudflare: namespaces registry, Pages projects, scripts, tokens.

KV *data* lives in Miniflare's storage; this file holds what Miniflare has no notion of (titles,
projects, scripts' settings, tokens and their policies). Token values are never stored, only their
SHA-256. Every change is saved atomically, so a restarted server keeps the account as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError

from kvstack.local.api.shapes import DateTime
from kvstack.local.state import atomic_write_text

__all__ = ["Store", "hash_token", "new_id", "now_rfc3339"]


log = logging.getLogger("kvstack.local.api")


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Namespace(_Record):
    id: StrictStr
    title: StrictStr


class _Project(_Record):
    id: StrictStr
    name: StrictStr
    deployment_configs: dict[str, Any]


class _Script(_Record):
    id: StrictStr
    etag: StrictStr
    created_on: StrictStr
    modified_on: StrictStr
    bindings: list[dict[str, Any]]


class _Token(_Record):
    id: StrictStr
    name: StrictStr
    owner: Literal["user", "account"]
    value_sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
    policies: list[dict[str, Any]]
    expires_on: DateTime | None = None
    not_before: DateTime | None = None


RECORDS: dict[str, TypeAdapter[Any]] = {
    "namespaces": TypeAdapter(_Namespace),
    "projects": TypeAdapter(_Project),
    "scripts": TypeAdapter(_Script),
    "tokens": TypeAdapter(_Token),
}


def _first(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    return f"{'.'.join(map(str, error.get('loc', ())))}: {error.get('msg')}"


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
        """The stored account; a record that would break a route is skipped with a logged warning."""
        path = folder / "account.json"
        if not path.is_file():
            return cls(path=path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            aside = path.with_name(f"account.json.unreadable-{int(time.time())}")
            path.replace(aside)
            log.warning("%s is unreadable (%s): kept as %s, starting from an empty account", path, exc, aside)
            return cls(path=path)
        store = cls(path=path)
        for kind, record in RECORDS.items():
            kept = getattr(store, kind)
            found = data.get(kind) or {}
            for key, value in found.items() if isinstance(found, dict) else ():
                try:
                    record.validate_python(value)
                except ValidationError as exc:
                    log.warning("%s: skipping %s %r, a bad record: %s", path, kind[:-1], key, _first(exc))
                    continue
                kept[key] = value
        return store

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
