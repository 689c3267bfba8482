"""Key patterns with typed placeholders: ``charts:session:{sessionId}``, ``class_state:{class_nbr:int}``.

Matching is two-step so that a finding can say *why* a key is wrong: the literal text of a pattern is
matched first, with each placeholder matching any run of characters (without ``:`` unless its type may
hold one); then each placeholder's text is parsed by its type. The first step is not a backtracking
regex: ``{a:any}{b:any}{c:any}{d:any}{e:any}!`` would take n⁵ steps on a key without ``!`` (15 s on 200
bytes). It is a table of which suffixes of the key the rest of the pattern can match, filled in once
from the right, so matching costs (placeholders + literals) × key length whatever the pattern. A key
that fits the literal text but whose placeholder does not parse is reported as such, not as an unknown
key.

Every placeholder also accepts a smoke id (``kvstack-smoke`` or ``kvstack-smoke-<suffix>``): the
flows write only such keys, so a keyspace scan can tell smoke data from real data whatever the type.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "PLACEHOLDER_TYPES",
    "SMOKE_ID_RE",
    "SMOKE_MARKER",
    "KeyPattern",
    "Placeholder",
    "PlaceholderMatch",
    "is_smoke_id",
    "smoke_id",
]

SMOKE_MARKER: Final = "kvstack-smoke"
SMOKE_ID_RE: Final = re.compile(r"^kvstack-smoke(-[A-Za-z0-9_.-]+)?$")

_PLACEHOLDER_RE: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}")
_HEX_RE: Final = re.compile(r"^[0-9a-fA-F]+$")
_SLUG_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TOKEN_RE: Final = re.compile(r"^[A-Za-z0-9_-]+$")


def is_smoke_id(text: str) -> bool:
    """True for ``kvstack-smoke`` and ``kvstack-smoke-<suffix>`` (letters, digits, ``_.-``)."""
    return SMOKE_ID_RE.fullmatch(text) is not None


def smoke_id(suffix: str) -> str:
    """The smoke id ``kvstack-smoke-<suffix>``; ``suffix`` must keep it a valid smoke id."""
    text = f"{SMOKE_MARKER}-{suffix}"
    if not is_smoke_id(text):
        raise ValueError(f"{suffix!r} cannot follow {SMOKE_MARKER}- in a smoke id (letters, digits, _ . - only)")
    return text


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


@dataclass(frozen=True)
class _Type:
    # What the literal-text step lets a placeholder span (one character or more, with ':' or not);
    # the parse step then decides.
    colon: bool
    parse: Callable[[str], bool]
    expected: str


PLACEHOLDER_TYPES: Final[Mapping[str, _Type]] = {
    "str": _Type(False, bool, "any text without ':'"),
    "int": _Type(False, lambda s: s.isascii() and s.isdigit(), "a non-negative decimal integer"),
    "hex": _Type(False, lambda s: _HEX_RE.fullmatch(s) is not None, "hexadecimal digits"),
    "uuid": _Type(False, _is_uuid, "a UUID like 123e4567-e89b-12d3-a456-426614174000"),
    "slug": _Type(False, lambda s: _SLUG_RE.fullmatch(s) is not None, "lowercase letters, digits, '-' and '_'"),
    "token": _Type(False, lambda s: _TOKEN_RE.fullmatch(s) is not None, "URL-safe base64 characters"),
    # IPv6 addresses hold ':'; `any` is for the rest of a composite key.
    "ip": _Type(True, _is_ip, "an IPv4 or IPv6 address"),
    "any": _Type(True, bool, "any text"),
}


@dataclass(frozen=True)
class Placeholder:
    name: str
    type: str

    def __str__(self) -> str:
        return f"{{{self.name}:{self.type}}}"


@dataclass(frozen=True)
class PlaceholderMatch:
    """A key fitted to a pattern's literal text: each placeholder's text and the ones that do not parse."""

    values: Mapping[str, str]
    bad: tuple[tuple[Placeholder, str], ...]
    smoke: bool

    @property
    def ok(self) -> bool:
        return not self.bad

    def problems(self) -> list[str]:
        return [f"placeholder {ph} is {text!r}, not {PLACEHOLDER_TYPES[ph.type].expected}" for ph, text in self.bad]


class KeyPattern:
    """A compiled key pattern. ``KeyPattern("rl:login:{ip:ip}").match("rl:login:10.0.0.1")``."""

    def __init__(self, text: str) -> None:
        self.text = text
        placeholders: list[Placeholder] = []
        parts: list[str | Placeholder] = []
        position = 0
        for found in _PLACEHOLDER_RE.finditer(text):
            name, type_ = found.group(1), found.group(2) or "str"
            if type_ not in PLACEHOLDER_TYPES:
                known = ", ".join(PLACEHOLDER_TYPES)
                raise ValueError(f"unknown placeholder type {type_!r} in {text!r}; known: {known}")
            if any(p.name == name for p in placeholders):
                raise ValueError(f"placeholder {{{name}}} appears twice in {text!r}")
            if found.start() > position:
                parts.append(text[position : found.start()])
            placeholder = Placeholder(name, type_)
            parts.append(placeholder)
            placeholders.append(placeholder)
            position = found.end()
        if position < len(text):
            parts.append(text[position:])
        if any("{" in part or "}" in part for part in _literals(text)):
            raise ValueError(f"stray brace in key pattern {text!r}; placeholders are {{name}} or {{name:type}}")
        self.placeholders = tuple(placeholders)
        self._parts = tuple(parts)
        # Literal characters: more of them means a more specific pattern.
        self.specificity = len(_PLACEHOLDER_RE.sub("", text))

    def __repr__(self) -> str:
        return f"KeyPattern({self.text!r})"

    def example(self, **values: str) -> str:
        """The key with each placeholder replaced by ``values[name]`` (a smoke id when not given)."""
        return _PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), SMOKE_MARKER), self.text)

    def match(self, key: str) -> PlaceholderMatch | None:
        """None if ``key`` does not fit the literal text; else each placeholder's text and parse problems."""
        spans = self._spans(key)
        if spans is None:
            return None
        values: dict[str, str] = {}
        bad: list[tuple[Placeholder, str]] = []
        smoke = False
        for placeholder, text in zip(self.placeholders, spans, strict=True):
            values[placeholder.name] = text
            if is_smoke_id(text):
                smoke = True
            elif not PLACEHOLDER_TYPES[placeholder.type].parse(text):
                bad.append((placeholder, text))
        return PlaceholderMatch(values=values, bad=tuple(bad), smoke=smoke)

    def _spans(self, key: str) -> list[str] | None:
        """Each placeholder's text, as a greedy regex would split ``key``, in O(parts × len(key)) steps."""
        parts, n = self._parts, len(key)
        # fits[i][p]: parts[i:] match key[p:] exactly. Filled from the last part backwards.
        fits = [[False] * (n + 1) for _ in range(len(parts) + 1)]
        fits[len(parts)][n] = True
        for i in range(len(parts) - 1, -1, -1):
            part, rest, row = parts[i], fits[i + 1], fits[i]
            if isinstance(part, str):
                for p in range(n - len(part) + 1):
                    row[p] = rest[p + len(part)] and key.startswith(part, p)
                continue
            colon = PLACEHOLDER_TYPES[part.type].colon
            for p in range(n - 1, -1, -1):  # key[p:q] for some q > p, then the rest from q
                row[p] = (colon or key[p] != ":") and (rest[p + 1] or row[p + 1])
        if not fits[0][0]:
            return None
        spans: list[str] = []
        p = 0
        for i, part in enumerate(parts):
            if isinstance(part, str):
                p += len(part)
                continue
            stop = -1 if PLACEHOLDER_TYPES[part.type].colon else key.find(":", p)
            end = n if stop < 0 else stop
            q = next(q for q in range(end, p, -1) if fits[i + 1][q])  # the longest span, as a greedy regex
            spans.append(key[p:q])
            p = q
        return spans


def _literals(text: str) -> list[str]:
    return _PLACEHOLDER_RE.split(text)[::3]
