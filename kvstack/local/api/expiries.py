"""Expiries the local API keeps itself, for values Miniflare stores without one.

Miniflare's explorer carries an expiry only on its bulk route, whose values are at most 25 MiB of characters:
a binary value above 18.75 MiB (base64 of 25 MiB) goes through its single-value PUT, which drops the expiry.
Cloudflare takes 25 MiB with an expiry, so the API keeps such an expiry here (beside the write-behind's
journal): reads and listings through the API show it and hide the key once it has passed, and the
write-behind deletes the key then (``WriteBehind._sweep``). A Worker's binding reads the value until that
delete, without its expiration.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

__all__ = ["KeptExpiries"]

Key = tuple[str, str]  # (namespace id, key)


class KeptExpiries:
    """Absolute expiries of stored keys whose storage holds none, on disk and in memory."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.execute(
            "CREATE TABLE IF NOT EXISTS kept_expiries (namespace TEXT NOT NULL, key TEXT NOT NULL, "
            "expiration INTEGER NOT NULL, PRIMARY KEY (namespace, key))"
        )
        rows = db.execute("SELECT namespace, key, expiration FROM kept_expiries")
        self.expiries: dict[Key, int] = {(namespace, key): expiration for namespace, key, expiration in rows}

    def __len__(self) -> int:
        return len(self.expiries)

    def update(self, keep: dict[Key, int], forget: Iterable[Key]) -> bool:
        """Record ``keep`` and drop the expiries of ``forget`` (keys stored again); whether one was added."""
        gone = [slot for slot in forget if slot in self.expiries and slot not in keep]
        if not keep and not gone:
            return False
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO kept_expiries VALUES (?, ?, ?)", [(*slot, at) for slot, at in keep.items()]
            )
            self.db.executemany("DELETE FROM kept_expiries WHERE namespace = ? AND key = ?", gone)
        self.expiries.update(keep)
        for slot in gone:
            del self.expiries[slot]
        return bool(keep)

    def expired(self, namespace: str, key: str, now: float) -> bool:
        at = self.expiries.get((namespace, key))
        return at is not None and at <= now

    def apply(self, namespace: str, entry: dict[str, Any], now: float) -> dict[str, Any] | None:
        """A stored listing entry with its kept expiry, or None once that has passed."""
        at = self.expiries.get((namespace, str(entry.get("name"))))
        if at is None:
            return entry
        return None if at <= now else {**entry, "expiration": at}

    def due(self, now: float) -> list[Key]:
        return [slot for slot, at in self.expiries.items() if at <= now]

    def next_due(self) -> int | None:
        return min(self.expiries.values(), default=None)
