"""The catalog: Pulumi.yaml + Pulumi.<stack>.yaml, validated, loaded into frozen typed objects.

Pulumi.yaml carries what every environment shares under ``config.kvstack:catalog.value`` (apps, their
kind, bindings, wrangler file, flows, tokens wanted); Pulumi.<stack>.yaml carries only what differs
(environment, account, URLs, branches, wrangler sections, expiry, protection, adopted ids).

Every problem is a :class:`~kvstack.errors.CatalogError` naming the file, the line, the YAML path,
what is wrong and what is allowed. Loading never touches the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from jsonschema.exceptions import ValidationError

from kvstack.errors import CatalogError, CatalogProblems
from kvstack.schemas import describe_error, validator
from kvstack.stores import Store, refuse_plain_store_secrets
from kvstack.yamlfile import YamlDocument, read_yaml

__all__ = [
    "Adoption",
    "App",
    "AppKind",
    "Binding",
    "Catalog",
    "Store",
    "Token",
    "TokenRole",
    "WranglerFile",
    "WranglerFormat",
    "available_stacks",
    "load_catalog",
]

AppKind = Literal["pages", "worker", "rest"]
TokenRole = Literal["deploy", "runtime", "audit"]
WranglerFormat = Literal["toml", "jsonc", "json"]

CATALOG_KEY = "kvstack:catalog"
PROJECT_FILE = "Pulumi.yaml"


@dataclass(frozen=True)
class Adoption:
    """An existing namespace (and optionally its preview twin) to import rather than create."""

    id: str
    preview_id: str | None


@dataclass(frozen=True)
class Binding:
    """One KV binding of an app in one environment, with its derived titles."""

    name: str
    title: str
    preview_title: str
    keyspace: str | None
    optional: bool
    adopt: Adoption | None


@dataclass(frozen=True)
class WranglerFile:
    """The app's wrangler file and the sections of it this stack owns."""

    path: Path
    relpath: str
    format: WranglerFormat
    sections: tuple[str, ...]


@dataclass(frozen=True)
class App:
    """An app as this stack sees it."""

    name: str
    kind: AppKind
    description: str
    bindings: tuple[Binding, ...]
    flows: tuple[str, ...]
    wrangler: WranglerFile | None
    env_file: Path | None
    url: str | None
    production_branch: str | None
    pages_project: str | None

    def binding(self, name: str) -> Binding:
        for binding in self.bindings:
            if binding.name == name:
                return binding
        raise KeyError(f"app {self.name} has no binding {name}")


@dataclass(frozen=True)
class Token:
    """A scoped API token: its role, the permission groups it holds (by name) and when it expires.

    ``expires_on`` is None only when the project declares the token ``expires: never``: it is then created
    without an expiry, and the checks accept one that never expires.
    """

    key: str
    display_name: str
    role: TokenRole
    app: str | None
    permissions: tuple[str, ...]
    description: str
    expires_on: datetime | None


@dataclass(frozen=True)
class Catalog:
    """Everything one stack declares."""

    root: Path
    project: str
    stack: str
    environment: str
    account_id: str
    protect: bool
    token_expiry: datetime
    apps: tuple[App, ...]
    tokens: tuple[Token, ...]
    stores: tuple[Store, ...] = ()

    def store(self, name: str) -> Store:
        for store in self.stores:
            if store.name == name:
                return store
        raise KeyError(f"no store named {name!r}; declared: {', '.join(s.name for s in self.stores) or 'none'}")

    def app(self, name: str) -> App:
        for app in self.apps:
            if app.name == name:
                return app
        raise KeyError(f"no app named {name!r}; declared: {', '.join(a.name for a in self.apps)}")

    def bindings(self) -> Iterator[tuple[App, Binding]]:
        for app in self.apps:
            for binding in app.bindings:
                yield app, binding


def available_stacks(root: Path) -> list[str]:
    """Stacks that have a Pulumi.<stack>.yaml beside Pulumi.yaml."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def load_catalog(root: Path, stack: str, *, now: datetime | None = None) -> Catalog:
    """Load and validate the catalog of ``stack`` from the project folder ``root``."""
    root = root.resolve()
    stack_file = f"Pulumi.{stack}.yaml"
    if not (root / stack_file).exists() and not (root / stack_file).is_symlink():
        known = ", ".join(available_stacks(root)) or "none"
        raise CatalogError(
            f"no stack file for stack {stack!r}",
            file=stack_file,
            hint=f"create {stack_file} or choose one of the stacks: {known}",
        )
    problems: list[CatalogError] = []
    parts: list[Any] = []
    for read in (
        lambda: _project_part(read_yaml(root / PROJECT_FILE, PROJECT_FILE), problems),
        lambda: _stack_part(read_yaml(root / stack_file, stack_file), problems),
    ):
        try:
            parts.append(read())
        except CatalogError as error:
            problems.append(error)
    if problems:
        raise all_problems(problems)
    (project_doc, project_name, project), (stack_doc, stack_config) = parts
    from kvstack.catalog_build import Builder  # it builds these classes: imported here, not at the top

    return Builder(root, stack, project_name, project_doc, project, stack_doc, stack_config, now).build()


def all_problems(problems: list[CatalogError]) -> CatalogError:
    """One error for every problem: Pulumi.yaml's first, each file's in line order."""
    ordered = sorted(problems, key=lambda e: (e.file != PROJECT_FILE, e.file, e.line or 0, e.column or 0))
    return ordered[0] if len(ordered) == 1 else CatalogProblems(ordered)


def _project_part(doc: YamlDocument, problems: list[CatalogError]) -> tuple[YamlDocument, str, dict[str, Any]]:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error("Pulumi.yaml must be a mapping with name, runtime and config")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise doc.error("the project has no name", ["name"], hint="add `name: <project>`")
    config = data.get("config")
    entry = config.get(CATALOG_KEY) if isinstance(config, dict) else None
    if not isinstance(entry, dict) or "value" not in entry:
        raise doc.error(
            f"no catalog: `config.{CATALOG_KEY}.value` is missing",
            ["config"],
            hint=f"declare the apps and tokens under config: {CATALOG_KEY}: value: {{apps: …, tokens: …}}",
        )
    path: list[str | int] = ["config", CATALOG_KEY, "value"]
    problems.extend(_validate(doc, entry["value"], "project", path))
    return doc, name, cast(dict[str, Any], entry["value"])


def _stack_part(doc: YamlDocument, problems: list[CatalogError]) -> tuple[YamlDocument, dict[str, Any]]:
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise doc.error("a stack file must hold a `config:` mapping", hint="see Pulumi.dev.yaml for the shape")
    if "kvstack:catalog" in data["config"]:
        raise doc.error(
            "the catalog is declared once, in Pulumi.yaml, not per stack",
            ["config", CATALOG_KEY],
            hint="move apps and tokens to Pulumi.yaml; keep only what differs per environment here",
        )
    refuse_plain_store_secrets(doc, data["config"])
    problems.extend(_validate(doc, data["config"], "stack", ["config"]))
    return doc, cast(dict[str, Any], data["config"])


def _validate(doc: YamlDocument, instance: Any, definition: str, base: list[str | int]) -> list[CatalogError]:
    """Every schema error of ``instance``, each placed at its own line."""
    errors = sorted(validator("catalog", definition).iter_errors(instance), key=_document_order(doc, base))
    found = []
    for error in errors:
        path = [*base, *error.absolute_path]
        parent = _at(instance, list(error.absolute_path))
        # propertyNames errors point at the mapping; point at the offending key instead.
        if isinstance(parent, dict) and isinstance(error.instance, str) and error.instance in parent:
            path.append(error.instance)
        found.append(doc.error(describe_error(error), path))
    return found


def _document_order(doc: YamlDocument, base: list[str | int]) -> Any:
    def key(error: ValidationError) -> tuple[int, int]:
        return doc.position([*base, *error.absolute_path]) or (0, 0)

    return key


def _at(data: Any, path: list[Any]) -> Any:
    for part in path:
        data = data[part]
    return data
