"""Merging kv bindings into wrangler.toml with tomlkit, which keeps comments, order and formatting.

tomlkit round-trips every parseable file of the corpus byte-exact; what it does not do by itself is
place new items the way a person would, so this module helps it in three places:

- a key added to a table goes after the table's last key, not after the comments and blank lines
  that end the table (those belong visually to the next table: ``# ==== PREVIEW ====`` banners);
- a ``[[kv_namespaces]]`` table appended to an array of tables takes over the previous table's
  trailing blank lines and comments, so it is separated the same way and banners stay in front of
  the table they announce; it copies the previous table's indentation;
- strings are written in the quote style of the entry's other strings (single-quoted literals stay so).

The strict reader is tomllib (TOML 1.0, as wrangler's parser): it decides whether a file parses and
gives the line and column; the result is read back with tomllib and compared with what it must mean.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from typing import Any

import tomlkit
from tomlkit.container import Container, OutOfOrderTableProxy
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Comment, InlineTable, Item, String, StringType, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from kvstack import names
from kvstack.errors import WranglerFileError
from kvstack.render._merge import KV_KEY, expected_data, inspect, new_entry, refuse_duplicate_bindings, verify
from kvstack.render._model import Finding, KvBinding, Rendered, WranglerSpec
from kvstack.render._nesting import check_nesting

__all__ = ["new_toml_text", "parse_toml", "render_toml"]

_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def parse_toml(text: str, *, file: str) -> dict[str, Any]:
    """The data of a wrangler.toml; :class:`WranglerFileError` with line and column if it is not TOML."""
    check_nesting(text, "toml", file=file)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = _AT.search(str(exc))
        message = _AT.sub("", str(exc)).strip()
        line, column = (int(where.group(1)), int(where.group(2))) if where else (None, None)
        raise WranglerFileError(f"not valid TOML: {message}", file=file, line=line, column=column) from exc


def new_toml_text(spec: WranglerSpec) -> str:
    """The minimal file :func:`render_toml` starts from when the app has none (kv bindings are merged in)."""
    return (
        "# Created by `kvstack render`: add `main`, `compatibility_date` and the rest of the app's settings.\n"
        f"name = {tomlkit.string(spec.name).as_string()}\n"
    )


def render_toml(text: str, spec: WranglerSpec, *, file: str) -> Rendered:
    """Merge ``spec`` into the TOML ``text``; only managed `kv_namespaces` entries change."""
    old = parse_toml(text, file=file)
    refuse_duplicate_bindings(old, text, file=file)
    findings = inspect(old, spec, file=file)
    if expected_data(old, spec, file=file) == old:
        # Nothing to change: the text stays byte for byte (tomlkit may reorder out-of-order tables).
        return Rendered(text, tuple(findings))
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:  # pragma: no cover - tomllib accepted it; tomlkit is the laxer of the two
        raise WranglerFileError(f"tomlkit cannot read the file: {exc}", file=file) from exc
    if tomlkit.dumps(document) != text:
        findings.append(
            Finding(
                "toml-layout",
                "warning",
                "tables of one environment are split by other tables; tomlkit regroups them when it writes, "
                "so tables move (the meaning stays): keep each environment's tables together",
                file=file,
            )
        )
        document = tomlkit.parse(text)
    top_array = ""
    appendix = []
    for section, bindings in spec.sections.items():
        if not bindings:
            continue
        table = _section(document, section, file)
        # `[[kv_namespaces]]` and `[[env.<name>.kv_namespaces]]` headers name their whole path, so a new
        # array is added as text: the top-level one before the first table (and the comments that lead
        # into it), a new environment's after the other environments' tables.
        if section == names.WRANGLER_TOP_SECTION and KV_KEY not in document:
            top_array = _array_text(section, [new_entry(b) for b in bindings])
        elif table is None:
            appendix.append(_array_text(section, [new_entry(b) for b in bindings]))
        else:
            _merge_section(table, section, bindings, file)
    result = tomlkit.dumps(document)
    if result.endswith("\n\n") and not text.endswith("\n\n"):
        result = result.rstrip("\n") + "\n"
    if top_array:
        result = _insert_top_level(result, top_array)
    for block in appendix:
        result = _insert_environment(result, block)
    verify(old, parse_toml(result, file=file), spec, file=file)
    return Rendered(result, tuple(findings))


_HEADER_LINE = re.compile(r"^[ \t]*\[\[?([^\]\n]*)\]", re.MULTILINE)


def _headers(text: str) -> list[tuple[int, str]]:
    """Where each table header line starts, and the table's dotted name (quotes and spaces dropped)."""
    found = []
    for match in _HEADER_LINE.finditer(text):
        try:  # a `[` at the start of a line inside a multi-line array or string leaves an incomplete prefix
            tomllib.loads(text[: match.start()])
        except tomllib.TOMLDecodeError:
            continue
        found.append((match.start(), re.sub(r"[\s\"']", "", match.group(1))))
    return found


def _insert_at(text: str, position: int | None, block: str) -> str:
    """``block`` inserted before the header at ``position`` (above the comments leading into it), or appended."""
    if position is None:
        return text.rstrip("\n") + "\n\n" + block if text.strip() else block
    lines = text[:position].splitlines(keepends=True)
    while lines and lines[-1].lstrip().startswith("#"):
        position -= len(lines.pop())
    before = text[:position]
    if before.strip() and not before.endswith("\n\n"):
        before = before.rstrip("\n") + "\n\n"
    return before + block + "\n" + text[position:]


def _insert_top_level(text: str, block: str) -> str:
    """A new top-level array goes before the first table, where a reader looks for top-level keys."""
    headers = _headers(text)
    return _insert_at(text, headers[0][0] if headers else None, block)


def _insert_environment(text: str, block: str) -> str:
    """A new environment goes right after the block of tables the environments start with, so `env.*`
    tables stay together (tomlkit regroups environments that are split by other tables when it writes)."""
    headers = _headers(text)
    first_env = next((i for i, (_, name) in enumerate(headers) if name.startswith("env.")), None)
    if first_env is None:
        return _insert_at(text, None, block)
    after = next((pos for pos, name in headers[first_env:] if not name.startswith("env.")), None)
    return _insert_at(text, after, block)


def _array_text(section: str, entries: list[dict[str, str]]) -> str:
    path = KV_KEY
    if section != names.WRANGLER_TOP_SECTION:
        env_name = section[len("env.") :]
        path = f"env.{env_name if _BARE_KEY.match(env_name) else tomlkit.string(env_name).as_string()}.{KV_KEY}"
    tables = []
    for values in entries:
        lines = [f"[[{path}]]"] + [f"{key} = {tomlkit.string(value).as_string()}" for key, value in values.items()]
        tables.append("\n".join(lines) + "\n")
    return "\n".join(tables)


def _merge_section(
    table: Container | Table | OutOfOrderTableProxy, section: str, bindings: Sequence[KvBinding], file: str
) -> None:
    existing = table.get(KV_KEY)
    if existing is None:
        _add_array_of_tables(table, [new_entry(b) for b in bindings])
        return
    if isinstance(existing, AoT):
        entries: list[Table | InlineTable] = list(existing.body)
    elif isinstance(existing, Array) and all(isinstance(e, InlineTable) for e in existing):
        entries = list(existing)
    else:
        raise WranglerFileError(f"`kv_namespaces` in {section} is not an array of tables", file=file)
    managed = {b.binding: b for b in bindings}
    present: set[str] = set()
    for entry in entries:
        binding = managed.get(str(entry.get("binding")))
        if binding is None:
            continue
        present.add(binding.binding)
        literal = _is_literal(entry)
        for key, want in (("id", binding.id), ("preview_id", binding.preview_id)):
            if want is None or entry.get(key) == want:
                continue
            if key in entry:
                entry[key] = tomlkit.string(want, literal=literal)
            else:
                _add_key(entry, key, tomlkit.string(want, literal=literal))
    absent = [new_entry(b) for b in bindings if b.binding not in present]
    if not absent:
        return
    if isinstance(existing, AoT):
        for values in absent:
            _append_table(existing, values)
    else:
        sibling = next(iter(existing), None)
        padded = sibling is None or sibling.as_string().startswith("{ ")
        literal = sibling is not None and _is_literal(sibling)
        for values in absent:
            existing.append(_inline_table(values, padded=padded, literal=literal))


def _section(document: TOMLDocument, section: str, file: str) -> Container | Table | OutOfOrderTableProxy | None:
    """The section's table, None when the file has no such environment."""
    if section == names.WRANGLER_TOP_SECTION:
        return document
    env_name = section[len("env.") :]
    envs = document.get("env")
    if envs is None:
        return None
    if not isinstance(envs, Table | OutOfOrderTableProxy):
        raise WranglerFileError(
            "`env` is not a [table]", file=file, hint="kvstack merges into [env.<name>] tables, not inline ones"
        )
    table = envs.get(env_name)
    if table is None:
        return None
    if not isinstance(table, Table | OutOfOrderTableProxy):
        raise WranglerFileError(
            f"`env.{env_name}` is not a [table]", file=file, hint="kvstack merges into [env.<name>] tables"
        )
    return table


def _is_literal(entry: Table | InlineTable) -> bool:
    values = [v for v in entry.value.values() if isinstance(v, String)]
    return bool(values) and all(v.type == StringType.SLL for v in values)


def _trailing_trivia(container: Container) -> list[tuple[Any, Item]]:
    """Take the blank lines and comments that end ``container`` off it (to put them back or move them)."""
    body = container.body
    trailing: list[tuple[Any, Item]] = []
    while body and body[-1][0] is None and isinstance(body[-1][1], Whitespace | Comment):
        trailing.insert(0, body.pop())
    return trailing


def _add_key(entry: Table | InlineTable, key: str, value: Item) -> None:
    """Add ``key`` right after the entry's last key, before the blank lines and comments that end it."""
    trailing = _trailing_trivia(entry.value)
    entry.append(key, value)  # tomlkit indents it like the table
    entry.value.body.extend(trailing)


def _append_table(array: AoT, values: dict[str, str]) -> None:
    previous = array.body[-1] if array.body else None
    table = tomlkit.table()
    literal = previous is not None and _is_literal(previous)
    if previous is not None:
        table.trivia.indent = previous.trivia.indent  # tomlkit indents the keys like the header
    for key, value in values.items():
        table.append(key, tomlkit.string(value, literal=literal))
    if previous is not None:
        trailing = _trailing_trivia(previous.value)
        last = previous.value.body[-1][1] if previous.value.body else None
        if last is not None and not last.trivia.trail.endswith("\n"):
            last.trivia.trail += "\n"  # the file ended without a newline right after this table
        if trailing and _is_blank(trailing[0][1]):
            previous.value.body.append((None, Whitespace(trailing[0][1].as_string())))
        else:
            table.trivia.indent = "\n" + table.trivia.indent
        table.value.body.extend(trailing)
    array.append(table)


def _is_blank(item: Item) -> bool:
    return isinstance(item, Whitespace) and item.as_string().strip() == ""


def _add_array_of_tables(container: Container | Table | OutOfOrderTableProxy, entries: list[dict[str, str]]) -> None:
    """A new `[[…kv_namespaces]]` array at the end of ``container``, before the comments that end it."""
    array = tomlkit.aot()
    for values in entries:
        _append_table(array, values)
    trailing: list[tuple[Any, Item]] = []
    if isinstance(container, Table):
        trailing = _trailing_trivia(container.value)
        rendered = container.value.as_string()
        if rendered.strip() and not rendered.endswith("\n\n"):
            array.body[0].trivia.indent = "\n" + array.body[0].trivia.indent
    container[KV_KEY] = array
    # Whatever follows the section stays a blank line away (an extra one at the end of the file is
    # removed again by render_toml).
    array.body[-1].value.body.extend(trailing or [(None, Whitespace("\n"))])


def _inline_table(values: dict[str, str], *, padded: bool, literal: bool) -> InlineTable:
    quote = "'" if literal else '"'
    inner = ", ".join(f"{key} = {quote}{value}{quote}" for key, value in values.items())
    pad = " " if padded else ""
    parsed = tomlkit.parse(f"x = {{{pad}{inner}{pad}}}\n")["x"]
    assert isinstance(parsed, InlineTable)
    return parsed
