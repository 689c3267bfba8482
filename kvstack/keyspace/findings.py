"""What a keyspace scan can find wrong with a key, as data: a kind, the key, the pattern and the words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FINDING_KINDS", "Finding", "FindingKind"]

FindingKind = Literal[
    "unknown-key",
    "bad-placeholder",
    "not-json",
    "invalid-value",
    "value-too-large",
    "missing-ttl",
    "unexpected-ttl",
    "ttl-too-long",
    "ttl-too-short",
    "key-too-long",
    "bad-key-name",
    "metadata-too-large",
    # Redis stores (keyspaces of kind redis)
    "wrong-type",
    "unknown-field",
    "unprefixed-key",
    "undeclared-prefix",
]
FINDING_KINDS: tuple[FindingKind, ...] = FindingKind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Finding:
    """One problem with one key. ``message`` says what was expected and what was found."""

    kind: FindingKind
    key: str
    pattern: str | None
    message: str
    # The JSON pointer (RFC 6901) of the failing part of a value; "" is the whole value.
    pointer: str | None = None

    def __str__(self) -> str:
        where = f" (pattern {self.pattern})" if self.pattern else ""
        return f"key {self.key!r}{where}: {self.message}"
