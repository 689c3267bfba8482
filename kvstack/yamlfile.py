"""Reading YAML that people write: duplicate keys refused, every error placed at a line and column.

PyYAML keeps the last of two equal keys without a word; in a catalog that silently drops a binding,
so the loader here refuses them. Documents are composed once, so a JSON path found by schema
validation can be turned back into the line and column it came from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kvstack.errors import CatalogError
from kvstack.files import FileProblem, read_text

__all__ = ["MAX_DEPTH", "MAX_EXPANDED_NODES", "YamlDocument", "format_path", "read_yaml"]


# Catalog and keyspace files nest a handful of levels and hold a few thousand nodes. The caps stop what
# would otherwise be a RecursionError (PyYAML composes recursively) or an alias bomb (a 700-byte file
# expanding to billions of nodes: minutes and gigabytes) before either happens.
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 100_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate and complex mapping keys and places value errors at their line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2026-02-30
            raise yaml.constructor.ConstructorError(
                None, None, f"this value cannot be read: {exc}", node.start_mark
            ) from exc


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be plain text, not a list or mapping", key_node.start_mark
            )
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            first = seen[key].start_mark
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first defined on line {first.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return dict(loader.construct_pairs(node, deep=deep))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def format_path(path: Sequence[str | int]) -> str:
    """``["config", "kvstack:apps", "codex"]`` → ``config.kvstack:apps.codex``; list items as ``[3]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file with its node tree, for placing errors."""

    file: Path
    display: str
    data: Any
    root: yaml.Node | None

    def position(self, path: Sequence[str | int]) -> tuple[int, int] | None:
        """1-based (line, column) of the value at ``path``, or of its nearest existing ancestor."""
        node = self.root
        found = (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (1, 1)
        for part in path:
            if isinstance(node, yaml.MappingNode):
                match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
                key = next((k for k, _ in node.value if getattr(k, "value", None) == part), None)
                if match is None or key is None:
                    break
                found = (key.start_mark.line + 1, key.start_mark.column + 1)
                node = match
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                found = (node.start_mark.line + 1, node.start_mark.column + 1)
            else:
                break
        return found

    def error(self, message: str, path: Sequence[str | int] = (), hint: str | None = None) -> CatalogError:
        """A CatalogError placed at ``path`` in this file."""
        position = self.position(path)
        line, column = position if position else (None, None)
        return CatalogError(
            message, file=self.display, yaml_path=format_path(path), line=line, column=column, hint=hint
        )


def read_yaml(file: Path, display: str | None = None) -> YamlDocument:
    """Parse ``file``; a syntax error or duplicate key becomes a CatalogError with line and column.

    Refused the same way: a link or special file, a file above the size cap, text that is not UTF-8,
    nesting deeper than :data:`MAX_DEPTH`, aliases expanding beyond :data:`MAX_EXPANDED_NODES` nodes,
    and mapping keys that are lists or mappings.
    """
    shown = display or str(file)
    try:
        text = read_text(file)
    except FileProblem as problem:
        raise CatalogError(
            problem.message, file=shown, line=problem.line, column=problem.column, hint=problem.hint
        ) from problem
    if text is None:
        raise CatalogError("file not found", file=shown)
    try:
        _check_shape(text, shown)
        loader = _StrictLoader(text)
        try:
            root = loader.get_single_node()
            _check_expansion(root, shown)
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise CatalogError(
            f"YAML does not parse: {exc.problem or exc}",
            file=shown,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            hint="fix the YAML syntax at that position",
        ) from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"YAML does not parse: {exc}", file=shown, line=1) from exc
    return YamlDocument(file=file, display=shown, data=data, root=root)


def _check_shape(text: str, shown: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH, from the event stream (PyYAML's parser does not recurse)."""
    # PyYAML's scanner is quadratic in the depth of flow collections (`[[[[…`: 3 s at 5,000 levels), so
    # when the brackets alone nest too deep, the events are read from the text up to there first.
    depth = 0
    for index, char in enumerate(text):
        depth += 1 if char in "[{" else -1 if char in "]}" else 0
        if depth > MAX_DEPTH:
            with contextlib.suppress(yaml.YAMLError):  # the brackets may be inside strings after all
                _check_depth(text[: index + 1], shown)
            break
    _check_depth(text, shown)


def _check_depth(text: str, shown: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_StrictLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line, column = _position(event.start_mark)
                raise CatalogError(
                    f"nested more than {MAX_DEPTH} levels deep",
                    file=shown,
                    line=line,
                    column=column,
                    hint="a kvstack file nests a handful of levels: check the file",
                )
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def _position(mark: Any) -> tuple[int | None, int | None]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node | None, shown: str) -> None:
    """Refuse aliases that expand the document beyond MAX_EXPANDED_NODES nodes, or into itself.

    Counted on the composed graph, where an alias is a shared node: linear in the file's size.
    """
    if root is None:
        return
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            visiting.discard(id(node))
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[id(node)] = size
            if size > MAX_EXPANDED_NODES:
                line, column = _position(node.start_mark)
                raise CatalogError(
                    f"YAML aliases expand this to more than {MAX_EXPANDED_NODES:,} values (an alias bomb?)",
                    file=shown,
                    line=line,
                    column=column,
                    hint="write the values out, or use fewer anchors and aliases (*name)",
                )
            continue
        if id(node) in sizes:
            continue
        visiting.add(id(node))
        stack.append((node, True))
        for child in _children(node):
            if id(child) in visiting:
                line, column = _position(child.start_mark)
                raise CatalogError(
                    "a YAML alias refers to the value that contains it",
                    file=shown,
                    line=line,
                    column=column,
                    hint="an anchor (&name) cannot be used (*name) inside its own value",
                )
            if id(child) not in sizes:
                stack.append((child, False))
