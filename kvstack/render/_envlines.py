"""The lines of a .env file: which lines are one assignment (quoted values may span several), and masking.

Shared by the renderer (:mod:`kvstack.render._dotenv`) and by everything that shows a .env to people
(diffs, ``--stdout``), so both see the same assignments: a masked diff can never show the second line
of a multi-line quoted secret because the masker read it as a line of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["PUBLIC_VARIABLES", "Assignment", "EnvSyntaxError", "assignments", "mask_env"]

_ASSIGNMENT = re.compile(r"^(?P<lead>\s*(?:export\s+)?)(?P<key>[A-Za-z_][A-Za-z0-9_.]*)(?P<eq>\s*=\s*)(?P<value>.*)$")
_QUOTES = ("'", '"')

# The only values a .env diff shows: kvstack's own, which are ids, not secrets. Every other value may be
# a secret kvstack does not know about (the app's own API keys), so it is masked wherever it is shown.
PUBLIC_VARIABLES = ("CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_KV_NAMESPACE_ID")


class EnvSyntaxError(Exception):
    """A line that is not an assignment, comment or blank, or a quoted value never closed (1-based line)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        self.line = line
        self.column = column
        super().__init__(message)


@dataclass(frozen=True)
class Assignment:
    """``KEY=value`` starting at line ``index`` (0-based) and spanning ``span`` lines."""

    index: int
    span: int
    match: re.Match[str]

    @property
    def key(self) -> str:
        return self.match.group("key")


def assignments(lines: list[str]) -> Iterator[Assignment | int]:
    """For each logical line: an :class:`Assignment`, or the index of a blank or comment line."""
    index = 0
    while index < len(lines):
        body = lines[index].rstrip("\r\n")
        if not body.strip() or body.lstrip().startswith("#"):
            yield index
            index += 1
            continue
        match = _ASSIGNMENT.match(body)
        if match is None:
            column = len(body) - len(body.lstrip()) + 1
            raise EnvSyntaxError("not a .env line: expected KEY=value, a comment or a blank line", index + 1, column)
        span = _value_lines(lines, index, match.group("value"))
        if span < 0:
            raise EnvSyntaxError("a quoted value is never closed", index + 1, 1)
        yield Assignment(index, span, match)
        index += span


def _value_lines(lines: list[str], index: int, value: str) -> int:
    """How many lines the assignment starting at ``index`` spans (quoted values may span several)."""
    stripped = value.strip()
    if not stripped or stripped[0] not in _QUOTES:
        return 1
    quote = stripped[0]
    rest = stripped[1:]
    count = 1
    while not _closes(rest, quote):
        if index + count >= len(lines):
            return -1
        rest = lines[index + count]
        count += 1
    return count


def _closes(text: str, quote: str) -> bool:
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quote == '"':
            escaped = True
        elif ch == quote:
            return True
    return False


def _is_public(key: str) -> bool:
    return key in PUBLIC_VARIABLES or key.startswith("CLOUDFLARE_KV_NAMESPACE_ID_")


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


def mask_env(text: str, mask: str) -> str:
    """``text`` with every value but kvstack's ids replaced by ``mask``, every line of a multi-line value too.

    Line count and line endings stay, so a diff of masked texts lines up. Text that does not parse as a
    .env is masked whole from the first line that does not: showing it could show a secret.
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    try:
        for item in assignments(lines):
            if isinstance(item, int):
                out.append(lines[item])
                continue
            block = lines[item.index : item.index + item.span]
            if _is_public(item.key):
                out.extend(block)
                continue
            match = item.match
            shown = mask if match.group("value").strip() else ""
            out.append(f"{match.group('lead')}{item.key}{match.group('eq')}{shown}{_ending(block[0])}")
            out.extend(mask + _ending(line) for line in block[1:])
    except EnvSyntaxError as error:
        out.extend(mask + _ending(line) for line in lines[error.line - 1 :])
    return "".join(out)
