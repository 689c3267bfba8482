"""The .env file of a rest app: kvstack's variables set, every other line kept as it was."""

from __future__ import annotations

from collections.abc import Mapping

from kvstack.errors import WranglerFileError
from kvstack.render._envlines import EnvSyntaxError, assignments
from kvstack.render._layout import split_layout
from kvstack.render._model import Finding, Rendered

__all__ = [
    "ACCOUNT_VARIABLE",
    "NAMESPACE_VARIABLE",
    "SECRET_VARIABLES",
    "TOKEN_VARIABLE",
    "UPSTASH_PREFIX_VARIABLE",
    "UPSTASH_READ_ONLY_TOKEN_VARIABLE",
    "UPSTASH_TOKEN_VARIABLE",
    "UPSTASH_URL_VARIABLE",
    "render_env",
]

ACCOUNT_VARIABLE = "CLOUDFLARE_ACCOUNT_ID"
NAMESPACE_VARIABLE = "CLOUDFLARE_KV_NAMESPACE_ID"
TOKEN_VARIABLE = "CLOUDFLARE_API_TOKEN"
# The .env of an app using an Upstash store (the names Vercel's KV integration gives them).
UPSTASH_URL_VARIABLE = "KV_REST_API_URL"
UPSTASH_TOKEN_VARIABLE = "KV_REST_API_TOKEN"
UPSTASH_READ_ONLY_TOKEN_VARIABLE = "KV_REST_API_READ_ONLY_TOKEN"
UPSTASH_PREFIX_VARIABLE = "KV_NAMESPACE"
SECRET_VARIABLES = frozenset(
    {TOKEN_VARIABLE, UPSTASH_URL_VARIABLE, UPSTASH_TOKEN_VARIABLE, UPSTASH_READ_ONLY_TOKEN_VARIABLE}
)
_QUOTES = ("'", '"')


def render_env(text: str | None, values: Mapping[str, str], *, file: str) -> Rendered:
    """Set ``values`` in the .env ``text`` (None: a new file); other lines, comments and order are kept.

    A variable set more than once has every assignment updated (dotenv readers differ on which wins).
    Findings never contain a value of :data:`SECRET_VARIABLES`.
    """
    body, layout = split_layout(text or "")
    lines = body.splitlines(keepends=True)
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    out: list[str] = []
    try:
        items = list(assignments(lines))
    except EnvSyntaxError as error:
        raise WranglerFileError(str(error), file=file, line=error.line, column=error.column) from error
    for item in items:
        if isinstance(item, int):
            out.append(lines[item])
            continue
        key, match, span, index = item.key, item.match, item.span, item.index
        if key not in values:
            out.extend(lines[index : index + span])
            continue
        raw = "".join(lines[index : index + span])
        value_text = raw[match.start("value") :]
        stripped = value_text.rstrip("\r\n")
        newline = value_text[len(stripped) :] or "\n"
        seen.setdefault(key, _unquote(stripped))
        quote = _quote_of(stripped)
        comment = ""
        if not quote and " #" in stripped:
            comment = stripped[stripped.index(" #") :]
            comment = " " * (len(stripped.split(" #", 1)[0]) - len(stripped.split(" #", 1)[0].rstrip())) + comment
        value = f"{quote}{values[key]}{quote}"
        out.append(f"{match.group('lead')}{key}{match.group('eq')}{value}{comment}{newline}")
    missing = [key for key in values if key not in seen]
    if missing and out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    for key in missing:
        out.append(f"{key}={values[key]}\n")
    for key, want in values.items():
        secret = key in SECRET_VARIABLES
        if key not in seen:
            findings.append(Finding("missing-variable", "error", f"{key} is not set", file=file))
        elif seen[key] != want:
            shown = "differs from the outputs (value hidden)" if secret else f"is {seen[key]!r}; the outputs say {want}"
            findings.append(Finding("changed-variable", "error", f"{key} {shown}", file=file))
    return Rendered(layout.restore("".join(out)), tuple(findings))


def _quote_of(value: str) -> str:
    """The quote a value was written with, kept when kvstack rewrites it."""
    stripped = value.strip()
    return stripped[0] if stripped and stripped[0] in _QUOTES else ""


def _unquote(value: str) -> str:
    stripped = value.strip()
    if stripped and stripped[0] in _QUOTES:
        quote = stripped[0]
        end = stripped.rfind(quote)
        return stripped[1:end] if end > 0 else stripped[1:]
    return stripped.split(" #", 1)[0].strip()
