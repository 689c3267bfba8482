"""Where an app's KV bindings live once deployed: Pages deployment configs, Worker settings, wrangler files, /health.

Each resource answers "which namespace id is bound under which name"; :func:`binding_problems`
compares that with what the outputs declare and says, for every difference, what was expected and
what was found, naming a found id's namespace when it is one of the stack's (e.g. the preview twin).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import httpx

from kvstack.cloudflare import CloudflareApi
from kvstack.errors import WranglerFileError
from kvstack.render import FilePlan
from kvstack.wranglerfile import WranglerFile, read_wrangler_file

__all__ = [
    "AppHealth",
    "PagesDeployment",
    "WorkerScript",
    "WranglerFileResource",
    "binding_problems",
    "script_names",
]


def binding_problems(
    declared: Mapping[str, str],
    found: Mapping[str, str],
    *,
    optional: frozenset[str] = frozenset(),
    titles: Mapping[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    """(errors, warnings): each declared binding bound to exactly its id, and no other KV binding."""
    titles = titles or {}

    def named(namespace_id: str) -> str:
        title = titles.get(namespace_id)
        return f"{namespace_id} ({title})" if title else f"{namespace_id} (not a namespace of this stack)"

    errors: list[str] = []
    warnings: list[str] = []
    for binding, want in declared.items():
        have = found.get(binding)
        if have is None:
            text = f"{binding}: expected {named(want)}; found no such KV binding"
            (warnings if binding in optional else errors).append(text + (" (optional)" if binding in optional else ""))
        elif have != want:
            errors.append(f"{binding}: expected {named(want)}; found {named(have)}")
    for binding, have in found.items():
        if binding not in declared:
            errors.append(f"{binding}: expected no such KV binding; found one bound to {named(have)}")
    return errors, warnings


@dataclass
class _ProjectCache:
    """One API read per Pages project, shared by its production and preview configs."""

    api: CloudflareApi
    projects: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def get(self, name: str) -> dict[str, Any] | None:
        if name not in self.projects:
            self.projects[name] = self.api.get_pages_project(name)
        return self.projects[name]


@dataclass
class PagesDeployment:
    """One deployment config (production or preview) of a Pages project."""

    cache: _ProjectCache
    app: str
    project: str
    environment: Literal["production", "preview"]
    declared: dict[str, str]
    optional: frozenset[str]

    @property
    def label(self) -> str:
        return f"Pages project {self.project}, {self.environment} deployment config"

    @property
    def found(self) -> dict[str, Any] | None:
        return self.cache.get(self.project)

    @property
    def exists(self) -> bool:
        return self.found is not None

    @property
    def kv_bindings(self) -> dict[str, str]:
        configs = (self.found or {}).get("deployment_configs") or {}
        bindings = (configs.get(self.environment) or {}).get("kv_namespaces") or {}
        return {name: str((entry or {}).get("namespace_id")) for name, entry in bindings.items()}

    @staticmethod
    def cache_for(api: CloudflareApi) -> _ProjectCache:
        return _ProjectCache(api)


@dataclass
class WorkerScript:
    """A deployed Worker (one per wrangler section the stack owns) and the bindings its settings list."""

    api: CloudflareApi
    app: str
    script: str
    declared: dict[str, str]
    optional: frozenset[str]

    @property
    def label(self) -> str:
        return f"Worker {self.script}"

    @cached_property
    def settings(self) -> dict[str, Any] | None:
        return self.api.get_script_settings(self.script)

    @property
    def exists(self) -> bool:
        return self.settings is not None

    @property
    def kv_bindings(self) -> dict[str, str]:
        return {
            str(b.get("name")): str(b.get("namespace_id"))
            for b in (self.settings or {}).get("bindings") or []
            if b.get("type") == "kv_namespace"
        }


def script_names(path: Path, sections: tuple[str, ...], default: str) -> dict[str, str]:
    """The Worker name wrangler deploys for each section (:meth:`kvstack.wranglerfile.WranglerFile.worker_names`).

    A file that cannot be read gives the names ``default`` would have; the file check reports the file.
    """
    try:
        file = read_wrangler_file(path)
    except WranglerFileError:
        file = WranglerFile(path, {})
    return file.worker_names(sections, default=default)


@dataclass
class WranglerFileResource:
    """An app's wrangler file (or .env) as `kvstack render --check` sees it: the render plan, nothing written."""

    app: str
    relpath: str
    plan: FilePlan | None
    error: str | None = None  # the file could not be planned (does not parse, outputs incomplete)

    @property
    def label(self) -> str:
        return self.relpath

    @property
    def problems(self) -> list[str]:
        if self.plan is None:
            return [self.error or "could not be planned"]
        problems = [f"{f.kind}: {f.message}" for f in self.plan.findings if f.severity == "error"]
        if not problems and self.plan.drifted:
            problems.append("differs from what `kvstack render` would write:\n" + self.plan.diff())
        return problems


@dataclass
class AppHealth:
    """An app's own view of its bindings: ``GET <url>/health`` (contract: docs/contracts.md)."""

    app: str
    url: str
    timeout: float = 10.0

    @property
    def label(self) -> str:
        return f"{self.app} at {self.url}/health"

    @cached_property
    def answer(self) -> tuple[int, dict[str, Any]]:
        response = httpx.get(self.url.rstrip("/") + "/health", timeout=self.timeout)
        try:
            body = response.json()
        except json.JSONDecodeError:
            body = {"error": response.text[:200]}
        return response.status_code, body if isinstance(body, dict) else {}

    @property
    def missing(self) -> list[str]:
        return [str(name) for name in self.answer[1].get("missing") or []]
