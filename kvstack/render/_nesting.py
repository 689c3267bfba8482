"""A cheap scan refusing absurdly nested wrangler files before a recursive parser meets them.

tomllib recurses once per nested array or inline table, so ``a = [[[[…`` 3,000 deep raises
RecursionError (a traceback) instead of a parse error. Wrangler files nest a handful of levels; this scan
counts brackets outside strings and comments and stops at :data:`MAX_NESTING` with the line and column.
"""

from __future__ import annotations

from typing import Literal

from kvstack.errors import WranglerFileError

__all__ = ["MAX_NESTING", "check_nesting"]

# Far above any real wrangler file (the corpus nests at most 5 levels), far below Python's recursion limit.
MAX_NESTING = 64

Syntax = Literal["toml", "jsonc"]


def _string_end(text: str, start: int, syntax: Syntax) -> int:
    """Index just after the string that opens at ``start`` (or len(text) if it never closes)."""
    for quote in ('"""', "'''") if syntax == "toml" else ():
        if text.startswith(quote, start):
            end = start + 3
            while True:
                found = text.find(quote, end)
                if found < 0:
                    return len(text)
                if quote == "'''" or not _escaped(text, found):
                    return found + 3
                end = found + 1
    quote = text[start]
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote == '"':
            i += 2
            continue
        if ch == quote or (ch == "\n" and syntax == "toml"):
            return i + 1
        i += 1
    return len(text)


def _escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def check_nesting(text: str, syntax: Syntax, *, file: str, limit: int = MAX_NESTING) -> None:
    """WranglerFileError (exit 2, line and column) when brackets nest deeper than ``limit``."""
    quotes = "\"'" if syntax == "toml" else '"'
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in quotes:
            i = _string_end(text, i, syntax)
            continue
        if (syntax == "toml" and ch == "#") or (syntax == "jsonc" and text.startswith("//", i)):
            stop = text.find("\n", i)
            i = len(text) if stop < 0 else stop
            continue
        if syntax == "jsonc" and text.startswith("/*", i):
            stop = text.find("*/", i + 2)
            i = len(text) if stop < 0 else stop + 2
            continue
        if ch in "[{":
            depth += 1
            if depth > limit:
                line = text.count("\n", 0, i) + 1
                column = i - (text.rfind("\n", 0, i) + 1) + 1
                raise WranglerFileError(
                    f"nested more than {limit} levels deep; a wrangler file needs a handful",
                    file=file,
                    line=line,
                    column=column,
                    hint="this is not a wrangler configuration kvstack should rewrite: check the file",
                )
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
