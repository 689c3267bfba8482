"""Reading YAML that people write: duplicate keys refused, every error placed at a line and column.

PyYAML keeps the last of two equal keys without a word; in a catalog that silently drops a binding,
so the loader here refuses them. Documents are composed once, so a JSON path found by schema
validation can be turned back into the line and column it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kvstack.errors import CatalogError

__all__ = ["YamlDocument", "format_path", "read_yaml"]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
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
        found = (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else None
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
    """Parse ``file``; a syntax error or duplicate key becomes a CatalogError with line and column."""
    shown = display or str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CatalogError("file not found", file=shown) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read the file: {exc}", file=shown) from exc
    try:
        root = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        raise CatalogError(
            f"YAML does not parse: {problem}",
            file=shown,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            hint="fix the YAML syntax at that position",
        ) from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"YAML does not parse: {exc}", file=shown) from exc
    return YamlDocument(file=file, display=shown, data=data, root=root)
