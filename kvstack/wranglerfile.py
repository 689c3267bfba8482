"""Reading wrangler files (wrangler.toml, wrangler.json, wrangler.jsonc): the one reader kvstack has.

A wrangler file has a top level and ``[env.<name>]`` sections; kvstack names a section ``top`` or
``env.<name>`` (:data:`kvstack.names.WRANGLER_TOP_SECTION`). This module answers what the runtime,
the checks and `local up` ask of a file: its parsed data, a section's table, the Worker name wrangler
gives each section, a section's KV bindings, and the ``.dev.vars`` secrets beside it. Render keeps its
own format-preserving parsers (``kvstack/render/``): it rewrites files, this module only reads them.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvstack import names
from kvstack.errors import WranglerFileError

__all__ = ["WranglerFile", "read_dev_vars", "read_wrangler_file", "section_env", "section_table"]


def section_env(section: str) -> str | None:
    """The wrangler ``--env`` a section means: ``env.staging`` → ``staging``; ``top`` → None."""
    if section == names.WRANGLER_TOP_SECTION:
        return None
    return section.removeprefix("env.")


def section_table(data: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    """The table of parsed wrangler data that ``section`` names (empty if the file has none)."""
    env = section_env(section)
    if env is None:
        return data
    table = (data.get("env") or {}).get(env)
    return table if isinstance(table, Mapping) else {}


@dataclass(frozen=True)
class WranglerFile:
    """A parsed wrangler file. ``data`` is a fresh dict per read: callers may change it."""

    file: Path
    data: dict[str, Any]

    @property
    def envs(self) -> tuple[str, ...]:
        """The names of its ``[env.<name>]`` sections."""
        envs = self.data.get("env")
        return tuple(name for name, table in envs.items() if isinstance(table, dict)) if isinstance(envs, dict) else ()

    def section(self, section: str) -> Mapping[str, Any]:
        return section_table(self.data, section)

    def worker_name(self, env: str | None, *, default: str | None = None) -> str:
        """The Worker name wrangler gives this file under ``--env env`` (None: the top level).

        ``name``, or ``<name>-<env>`` unless the env section sets its own ``name``; wrangler names a
        worker ``<name>-<env>`` even when the file has no such section (it runs its top level and warns).
        Without a top-level ``name`` the ``default`` is used, else WranglerFileError.
        """
        name = self.data.get("name")
        if not isinstance(name, str) or not name:
            if default is None:
                raise WranglerFileError("has no `name`", file=str(self.file), hint="wrangler needs the worker's name")
            name = default
        if env is None:
            return name
        own = section_table(self.data, f"env.{env}").get("name")
        return own if isinstance(own, str) and own else f"{name}-{env}"

    def worker_names(self, sections: Iterable[str], *, default: str | None = None) -> dict[str, str]:
        """The Worker name wrangler deploys for each of ``sections``."""
        return {section: self.worker_name(section_env(section), default=default) for section in sections}

    def kv_bindings(self, section: str) -> list[dict[str, Any]]:
        """The ``kv_namespaces`` entries of ``section`` as written (binding, id, preview_id)."""
        entries = self.section(section).get("kv_namespaces") or []
        return [dict(entry) for entry in entries if isinstance(entry, Mapping)]


def read_wrangler_file(path: Path) -> WranglerFile:
    """Parse a wrangler.toml / wrangler.json(c); WranglerFileError (exit 2) if unreadable or invalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WranglerFileError(f"cannot be read: {exc.strerror}", file=str(path)) from exc
    try:
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else _load_jsonc(text)
    except Exception as exc:  # tomllib.TOMLDecodeError or json5's own errors
        raise WranglerFileError(f"does not parse: {exc}", file=str(path)) from exc
    if not isinstance(data, dict):
        raise WranglerFileError("is not a wrangler configuration (expected a table/object)", file=str(path))
    return WranglerFile(path, data)


def _load_jsonc(text: str) -> Any:
    """A wrangler.json(c) document: plain JSON by the standard library, else JSONC by json-five.

    Most files are plain JSON (every deployed view is), which the standard library parses some 500
    times faster; comments and trailing commas need json-five.
    """
    try:
        return json.loads(text)
    except ValueError:
        import json5  # only now: `local up` reads plain JSON before it starts wrangler

        return json5.loads(text)


def read_dev_vars(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of a ``.dev.vars`` file (wrangler dev's local secrets); empty if absent."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    values: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.strip().partition("=")
        if sep and not name.startswith("#"):
            values[name.strip()] = value.strip().strip('"').strip("'")
    return values
