"""Merging kv bindings into wrangler.jsonc / wrangler.json: span edits at positions from a real parser.

Why this way. Candidates were evaluated on the real-world corpus (../shared/wrangler-corpus, 14 JSON and
JSONC files):

- json-five (``json5`` module, ModelLoader/ModelDumper) parses all 14 and round-trips every one
  byte-exact, with comments, trailing commas and tabs, and every node knows its source span. But
  editing through its model is not usable: a node built with ``modelize`` is dumped JSON5-style
  (``{'binding':'NEW','id':'…'}``, single quotes, which wrangler's JSONC parser rejects), glued to the
  previous element with no indentation, and an element appended to a commented-out-only array
  (049-opennext-defaults) lands after the comments on the closing line.
- json4humans 0.1.0 (2022, unmaintained) has a style-preserving JSONC model, but its JSONC grammar
  rejects trailing commas: 3 of the 14 corpus files fail to parse (013, 018, 031).
- jsonc-edit 0.2.1 wraps Microsoft's jsonc-parser (what VS Code and wrangler use) but runs a Node daemon
  that npm-installs the parser into ~/.jsonc-edit on first use: a download at run time, which CI and
  the local Cloudflare cannot do.
- json5 (dpranke), commentjson, json-with-comments, hjson read JSONC but drop comments on writing.

So json-five is the parser (it gives positions, and errors with line and column) and this module edits
only the spans it must: an id string is replaced in place, a missing ``preview_id`` member, a missing
entry or a missing ``kv_namespaces``/``env`` member is inserted after the last sibling, in the sibling's
style (own line with the sibling's indentation, or inline; trailing comma kept if the sibling had one).
Every byte outside those spans stays as it was, and the result is parsed again and compared with what it
must mean (:func:`kvstack.render._merge.verify`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import json5
from json5.loader import ModelLoader
from json5.model import (
    Float,
    Identifier,
    Infinity,
    Integer,
    JSONArray,
    JSONObject,
    JSONText,
    NaN,
    Node,
    SingleQuotedString,
    String,
    UnaryOp,
    walk,
)
from json5.tokenizer import JSON5Token

from kvstack import names
from kvstack.errors import WranglerFileError
from kvstack.render._merge import KV_KEY, inspect, new_entry, refuse_duplicate_bindings, verify
from kvstack.render._model import KvBinding, Rendered, WranglerSpec
from kvstack.render._nesting import check_nesting

__all__ = ["new_json_text", "parse_json", "render_json"]

_WHERE = re.compile(r"line (\d+) column (\d+)")


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def parse_json(text: str, *, file: str) -> dict[str, Any]:
    """The data of a wrangler JSON/JSONC file; :class:`WranglerFileError` with line and column if it is not one."""
    _parse_model(text, file)
    data: dict[str, Any] = json5.loads(text)
    return data


def new_json_text(spec: WranglerSpec) -> str:
    """The minimal file :func:`render_json` starts from when the app has none (kv bindings are merged in)."""
    name = json.dumps(spec.name)
    if spec.format == "json":  # plain JSON files get no comment: other tools may read them strictly
        return f'{{\n\t"name": {name}\n}}\n'
    return (
        '// Created by `kvstack render`: add "main", "compatibility_date" and the rest of the app\'s settings.\n'
        f'{{\n\t"name": {name}\n}}\n'
    )


def render_json(text: str, spec: WranglerSpec, *, file: str) -> Rendered:
    """Merge ``spec`` into the JSON/JSONC ``text``; only managed `kv_namespaces` entries change."""
    old = parse_json(text, file=file)
    refuse_duplicate_bindings(old, text, file=file)
    findings = inspect(old, spec, file=file)
    # One section at a time, re-parsed in between: two sections may both need the same missing `env`.
    for section, bindings in spec.sections.items():
        if bindings:
            text = _merge_section(text, section, bindings, file)
    verify(old, parse_json(text, file=file), spec, file=file)
    return Rendered(text, tuple(findings))


def _parse_model(text: str, file: str) -> JSONObject:
    check_nesting(text, "jsonc", file=file)
    if not text.strip():
        raise WranglerFileError("the file is empty; a wrangler file holds one object", file=file, line=1, column=1)
    try:
        model: JSONText = json5.loads(text, loader=ModelLoader())
    except ValueError as exc:  # JSON5DecodeError is a JSONDecodeError
        first = str(exc).split("Additionally,")[0]
        where = _WHERE.search(first)
        line = int(where.group(1)) if where else getattr(exc, "lineno", None)
        line = max(1, line) if line is not None else None  # json-five says line 0 at the end of an empty text
        column = int(where.group(2)) if where else None
        message = " ".join(first.replace("There were multiple errors parsing the JSON5 document.", "").split())
        message = message.replace("The primary error was: ", "")
        message = re.sub(r"\s*at: line \d+ column \d+ \(char \d+\)", "", message).strip()
        raise WranglerFileError(f"not valid JSONC: {message}", file=file, line=line, column=column) from exc
    # json-five reads JSON5, a superset: refuse what wrangler's JSONC parser would refuse.
    for node in walk(model):
        problem = _json5_only(node)
        if problem is not None:
            token = node._tok
            raise WranglerFileError(
                f"not valid JSONC: {problem} (JSON5 syntax that wrangler does not read)",
                file=file,
                line=token.lineno if token is not None else None,
                column=token.colno + 1 if token is not None else None,
            )
    root = model.value
    if not isinstance(root, JSONObject):
        raise WranglerFileError("a wrangler file must hold one object at the top", file=file, line=1, column=1)
    return root


def _json5_only(node: Node) -> str | None:
    if isinstance(node, Identifier):
        return f"unquoted key {node.name}"
    if isinstance(node, SingleQuotedString):
        return "single-quoted string"
    if isinstance(node, Infinity | NaN):
        return "Infinity/NaN"
    if isinstance(node, UnaryOp) and node.op == "+":
        return "leading + on a number"
    if isinstance(node, Integer) and node.is_hex:
        return "hexadecimal number"
    if isinstance(node, Float) and (node.raw_value.startswith(".") or node.raw_value.endswith(".")):
        return f"number {node.raw_value}"
    return None


@dataclass(frozen=True)
class _Style:
    """How new objects are written: on one line (with ``pad`` inside the braces) or one member a line."""

    trailing: bool
    inline: bool = False
    pad: str = ""


class _Editor:
    """Edits to one parse of the text; :meth:`apply` makes them in one pass."""

    def __init__(self, text: str, root: JSONObject) -> None:
        self.text = text
        self.root = root
        self.edits: list[_Edit] = []
        self.unit = self._indent_unit()
        self.trailing = any(isinstance(n, JSONObject | JSONArray) and n.trailing_comma is not None for n in walk(root))

    # -- reading -------------------------------------------------------------------------------------
    def _indent_unit(self) -> str:
        pairs = self.root.key_value_pairs
        if pairs:
            first = _start(pairs[0].key)
            own = self._line_indent(first)
            if self._starts_line(first):
                base = self._line_indent(_start(self.root))
                unit = own[len(base) :] if own.startswith(base) else own
                if unit:
                    return unit
        return "\t"

    def _line_start(self, pos: int) -> int:
        return self.text.rfind("\n", 0, pos) + 1

    def _line_indent(self, pos: int) -> str:
        start = self._line_start(pos)
        line = self.text[start:pos]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def _starts_line(self, pos: int) -> bool:
        return self.text[self._line_start(pos) : pos].strip(" \t") == ""

    def _gap(self, start: int, end: int) -> tuple[int | None, list[int]]:
        """In a stretch holding only whitespace, comments and at most one comma: where the comma is and
        where the newlines outside comments are."""
        comma: int | None = None
        newlines: list[int] = []
        i = start
        text = self.text
        while i < end:
            ch = text[i]
            if text.startswith("//", i):
                stop = text.find("\n", i, end)
                i = end if stop == -1 else stop
                continue
            if text.startswith("/*", i):
                stop = text.find("*/", i + 2, end)
                i = end if stop == -1 else stop + 2
                continue
            if ch == ",":
                comma = i
            elif ch == "\n":
                newlines.append(i)
            i += 1
        return comma, newlines

    # -- writing ------------------------------------------------------------------------------------
    def dump(self, value: Any, indent: str, *, style: _Style | None = None) -> str:
        """``value`` (dicts, lists, strings) as JSON whose first line continues a line indented ``indent``."""
        style = style or _Style(trailing=self.trailing)
        if isinstance(value, dict):
            items = [f"{json.dumps(k)}: {self.dump(v, indent + self.unit, style=style)}" for k, v in value.items()]
            return self._wrap("{", "}", items, indent, style)
        if isinstance(value, list):
            items = [self.dump(v, indent + self.unit, style=style) for v in value]
            return self._wrap("[", "]", items, indent, style)
        return json.dumps(value)

    def _wrap(self, opening: str, closing: str, items: Sequence[str], indent: str, style: _Style) -> str:
        if not items:
            return opening + closing
        if style.inline:
            return opening + style.pad + ", ".join(items) + style.pad + closing
        inner = indent + self.unit
        tail = "," if style.trailing else ""
        return opening + "\n" + ",\n".join(inner + item for item in items) + tail + "\n" + indent + closing

    def replace(self, node: Node, value: str) -> None:
        self.edits.append(_Edit(_start(node), _end(node), json.dumps(value)))

    def append(self, container: JSONObject | JSONArray, children: Sequence[Callable[[str], str]]) -> None:
        """Add children after the last one of ``container``; each callable gets the children's indentation."""
        close = _close(container)
        last: tuple[int, int] | None = None
        if isinstance(container, JSONObject) and container.key_value_pairs:
            pair = container.key_value_pairs[-1]
            last = (_start(pair.key), _end(pair.value))
        elif isinstance(container, JSONArray) and container.values:
            value = container.values[-1]
            last = (_start(value), _end(value))
        if last is not None:
            last_start, last_end = last
            comma, newlines = self._gap(last_end, close)
            own_line = self._starts_line(last_start)
            indent = self._line_indent(last_start) if own_line else self._line_indent(_start(container)) + self.unit
            separator = "\n" + indent if own_line else " "
            body = ("," + separator).join(child(indent) for child in children)
            after = last_end if comma is None else comma + 1
            at = after
            if own_line:
                # after any comment that ends the last child's line, so that comment stays with it
                later = [n for n in newlines if n >= after]
                if later:
                    at = later[0]
            if comma is None:
                self.edits.append(_Edit(last_end, last_end, ","))
            self.edits.append(_Edit(at, at, separator + body + ("," if comma is not None else "")))
            return
        opened = _opened(container)
        outer = self._line_indent(_start(container))
        indent = outer + self.unit
        body = (",\n" + indent).join(child(indent) for child in children) + ("," if self.trailing else "")
        _, newlines = self._gap(opened, close)
        if newlines:
            # an empty container spread over lines (maybe all comments): new children go after the comments
            self.edits.append(_Edit(newlines[-1], newlines[-1], "\n" + indent + body))
        else:
            self.edits.append(_Edit(opened, close, "\n" + indent + body + "\n" + outer))

    def apply(self) -> str:
        text = self.text
        previous_start: int | None = None
        # Back to front, so positions stay valid; at one position the edit made first ends up first.
        order = sorted(enumerate(self.edits), key=lambda ie: (ie[1].start, ie[1].end, ie[0]), reverse=True)
        for _, edit in order:
            if previous_start is not None and edit.end > previous_start:
                raise AssertionError("overlapping edits")  # pragma: no cover - a bug, caught by verify anyway
            text = text[: edit.start] + edit.text + text[edit.end :]
            previous_start = edit.start
        return text


def _token(node: Node, *, last: bool = False) -> JSON5Token:
    token = node._end_tok if last else node._tok
    if token is None:  # pragma: no cover - every node the parser builds knows its tokens
        raise AssertionError(f"json-five gave no position for {node!r}")
    return token


def _start(node: Node) -> int:
    """Offset of the node's first character."""
    return _token(node).index


def _opened(node: Node) -> int:
    """Offset just after the node's first token (the ``{`` or ``[`` of a container)."""
    return _token(node).end


def _close(node: Node) -> int:
    """Offset of the node's last token (the ``}`` or ``]`` of a container)."""
    return _token(node, last=True).index


def _end(node: Node) -> int:
    """Offset just after the node's last character."""
    return _token(node, last=True).end


def _line(node: Node) -> int:
    return _token(node).lineno


def _member(obj: JSONObject, key: str) -> Node | None:
    found = None
    for pair in obj.key_value_pairs:
        if isinstance(pair.key, String) and pair.key.characters == key:
            found = pair.value  # the last one wins, as in wrangler's parser
    return found


def _entry_style(text: str, array: JSONArray, default_trailing: bool) -> _Style:
    """New entries look like the first existing one: inline or not, padded or not, trailing comma or not."""
    sibling = next((v for v in array.values if isinstance(v, JSONObject)), None)
    if sibling is None:
        return _Style(trailing=default_trailing)
    span = text[_start(sibling) : _end(sibling)]
    if "\n" not in span:
        return _Style(trailing=False, inline=True, pad=" " if span.startswith("{ ") else "")
    return _Style(trailing=sibling.trailing_comma is not None)


def _dumper(editor: _Editor, value: Any, style: _Style) -> Callable[[str], str]:
    return lambda indent: editor.dump(value, indent, style=style)


def _merge_section(text: str, section: str, bindings: Sequence[KvBinding], file: str) -> str:
    root = _parse_model(text, file)
    editor = _Editor(text, root)
    entries = [new_entry(b) for b in bindings]

    def member(key: str, value: Any) -> Callable[[str], str]:
        return lambda indent: f"{json.dumps(key)}: {editor.dump(value, indent)}"

    if section == names.WRANGLER_TOP_SECTION:
        table: Node | None = root
    else:
        env_name = section[len("env.") :]
        envs = _member(root, "env")
        if envs is None:
            editor.append(root, [member("env", {env_name: {KV_KEY: entries}})])
            return editor.apply()
        if not isinstance(envs, JSONObject):
            raise WranglerFileError("`env` is not an object", file=file, line=_line(envs))
        table = _member(envs, env_name)
        if table is None:
            editor.append(envs, [member(env_name, {KV_KEY: entries})])
            return editor.apply()
    if not isinstance(table, JSONObject):
        raise WranglerFileError(f"`{section}` is not an object", file=file, line=_line(table) if table else None)
    array = _member(table, KV_KEY)
    if array is None:
        editor.append(table, [member(KV_KEY, entries)])
        return editor.apply()
    if not isinstance(array, JSONArray):
        raise WranglerFileError("`kv_namespaces` is not an array", file=file, line=_line(array))
    managed = {b.binding: b for b in bindings}
    present: set[str] = set()
    for entry in array.values:
        if not isinstance(entry, JSONObject):
            raise WranglerFileError("a `kv_namespaces` entry is not an object", file=file, line=_line(entry))
        name = _member(entry, "binding")
        binding = managed.get(name.characters) if isinstance(name, String) else None
        if binding is None:
            continue
        present.add(binding.binding)
        missing: list[Callable[[str], str]] = []
        for key, want in (("id", binding.id), ("preview_id", binding.preview_id)):
            if want is None:
                continue
            node = _member(entry, key)
            if node is None:
                missing.append(member(key, want))
            elif not (isinstance(node, String) and node.characters == want):
                editor.replace(node, want)
        if missing:
            editor.append(entry, missing)
    absent = [new_entry(b) for b in bindings if b.binding not in present]
    if absent:
        style = _entry_style(text, array, editor.trailing)
        editor.append(array, [_dumper(editor, entry, style) for entry in absent])
    return editor.apply()
