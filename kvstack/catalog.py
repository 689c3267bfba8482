"""The catalog: Pulumi.yaml + Pulumi.<stack>.yaml, validated, loaded into frozen typed objects.

Pulumi.yaml carries what every environment shares under ``config.kvstack:catalog.value`` (apps, their
kind, bindings, wrangler file, flows, tokens wanted); Pulumi.<stack>.yaml carries only what differs
(environment, account, URLs, branches, wrangler sections, expiry, protection, adopted ids).

Every problem is a :class:`~kvstack.errors.CatalogError` naming the file, the line, the YAML path,
what is wrong and what is allowed. Loading never touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from jsonschema.exceptions import ValidationError

from kvstack import names
from kvstack.errors import CatalogError
from kvstack.schemas import describe_error, validator
from kvstack.stores import Store, build_stores, refuse_plain_store_secrets
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
    """A scoped API token: its role, the permission groups it holds (by name) and when it expires."""

    key: str
    display_name: str
    role: TokenRole
    app: str | None
    permissions: tuple[str, ...]
    description: str
    expires_on: datetime


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
    project_doc = read_yaml(root / PROJECT_FILE, PROJECT_FILE)
    stack_file = f"Pulumi.{stack}.yaml"
    if not (root / stack_file).is_file():
        known = ", ".join(available_stacks(root)) or "none"
        raise CatalogError(
            f"no stack file for stack {stack!r}",
            file=stack_file,
            hint=f"create {stack_file} or choose one of the stacks: {known}",
        )
    stack_doc = read_yaml(root / stack_file, stack_file)

    project_name, project = _project_part(project_doc)
    stack_config = _stack_part(stack_doc)
    return _Builder(root, stack, project_name, project_doc, project, stack_doc, stack_config, now).build()


def _project_part(doc: YamlDocument) -> tuple[str, dict[str, Any]]:
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
    _validate(doc, entry["value"], "project", path)
    return name, cast(dict[str, Any], entry["value"])


def _stack_part(doc: YamlDocument) -> dict[str, Any]:
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
    _validate(doc, data["config"], "stack", ["config"])
    return cast(dict[str, Any], data["config"])


def _validate(doc: YamlDocument, instance: Any, definition: str, base: list[str | int]) -> None:
    errors = sorted(validator("catalog", definition).iter_errors(instance), key=_document_order(doc, base))
    if not errors:
        return
    first = errors[0]
    path = [*base, *first.absolute_path]
    parent = _at(instance, list(first.absolute_path))
    # propertyNames errors point at the mapping; point at the offending key instead.
    if isinstance(parent, dict) and isinstance(first.instance, str) and first.instance in parent:
        path.append(first.instance)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise doc.error(describe_error(first) + more, path)


def _document_order(doc: YamlDocument, base: list[str | int]) -> Any:
    def key(error: ValidationError) -> tuple[int, int]:
        return doc.position([*base, *error.absolute_path]) or (0, 0)

    return key


def _at(data: Any, path: list[Any]) -> Any:
    for part in path:
        data = data[part]
    return data


class _Builder:
    """Cross-field rules and the typed objects; each rule raises at the YAML path it concerns."""

    def __init__(
        self,
        root: Path,
        stack: str,
        project_name: str,
        project_doc: YamlDocument,
        project: dict[str, Any],
        stack_doc: YamlDocument,
        config: dict[str, Any],
        now: datetime | None,
    ) -> None:
        self.root = root
        self.stack = stack
        self.project_name = project_name
        self.pdoc = project_doc
        self.project = project
        self.sdoc = stack_doc
        self.config = config
        self.now = now or datetime.now(UTC)
        self.environment: str = config["kvstack:environment"]
        self.ppath: list[str | int] = ["config", CATALOG_KEY, "value"]

    def build(self) -> Catalog:
        stack_apps: Mapping[str, Any] = self.config.get("kvstack:apps", {})
        declared = self.project["apps"]
        for name in stack_apps:
            if name not in declared:
                raise self.sdoc.error(
                    f"app {name!r} is not declared in Pulumi.yaml",
                    ["config", "kvstack:apps", name],
                    hint=f"declared apps: {', '.join(declared)}",
                )
        apps = tuple(self._app(name, spec, stack_apps.get(name, {})) for name, spec in declared.items())
        self._check_unique_titles(apps)
        self._check_unique_pages_projects(apps)
        self._check_adoptions(apps)
        return Catalog(
            root=self.root,
            project=self.project_name,
            stack=self.stack,
            environment=self.environment,
            account_id=self.config["kvstack:account_id"],
            protect=self._protect(),
            token_expiry=self._expiry(),
            apps=apps,
            tokens=self._tokens(apps),
            stores=build_stores(self, apps),
        )

    def _protect(self) -> bool:
        explicit = self.config.get("kvstack:protect")
        if self.environment == "prod":
            if explicit is False:
                raise self.sdoc.error(
                    "prod namespaces are always protected",
                    ["config", "kvstack:protect"],
                    hint="remove `kvstack:protect: false`; prod data must never be lost by a program change",
                )
            return True
        return bool(explicit)

    def _expiry(self) -> datetime:
        raw = self.config["kvstack:token_expiry"]
        path: list[str | int] = ["config", "kvstack:token_expiry"]
        try:
            expiry = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError as exc:
            raise self.sdoc.error(
                f"{raw!r} is not an RFC 3339 date-time", path, hint='write it like "2027-06-30T00:00:00Z"'
            ) from exc
        if expiry.tzinfo is None:
            raise self.sdoc.error(f"{raw!r} has no time zone", path, hint='end it with "Z" for UTC')
        if expiry <= self.now:
            raise self.sdoc.error(
                f"token expiry {raw} is in the past",
                path,
                hint="set a future RFC 3339 time; tokens created with it would be born expired",
            )
        return expiry.astimezone(UTC)

    def _app(self, name: str, spec: dict[str, Any], stack_spec: dict[str, Any]) -> App:
        path: list[str | int] = [*self.ppath, "apps", name]
        kind: AppKind = spec["kind"]
        wrangler_spec = spec.get("wrangler")
        env_file = spec.get("env_file")
        if kind == "rest":
            if wrangler_spec is not None:
                raise self.pdoc.error(
                    "a rest app has no wrangler file",
                    [*path, "wrangler"],
                    hint="remove `wrangler`; rest apps get an `env_file`",
                )
            if env_file is None:
                raise self.pdoc.error("a rest app needs `env_file`", path, hint="add `env_file: apps/<app>/.env`")
        else:
            if wrangler_spec is None:
                raise self.pdoc.error(
                    f"a {kind} app needs a `wrangler` file",
                    path,
                    hint="add `wrangler: {path: apps/<app>/wrangler.toml, format: toml}`",
                )
            if env_file is not None:
                raise self.pdoc.error(f"`env_file` is for rest apps, not {kind} apps", [*path, "env_file"])
        sections = tuple(stack_spec.get("sections", [names.WRANGLER_TOP_SECTION]))
        if kind == "rest" and "sections" in stack_spec:
            raise self.sdoc.error("a rest app has no wrangler sections", ["config", "kvstack:apps", name, "sections"])
        wrangler = None
        if wrangler_spec is not None:
            wrangler = WranglerFile(
                path=self._inside_root(wrangler_spec["path"], [*path, "wrangler", "path"]),
                relpath=wrangler_spec["path"],
                format=wrangler_spec["format"],
                sections=sections,
            )
        adopt_spec: Mapping[str, Any] = stack_spec.get("adopt", {})
        for binding_name in adopt_spec:
            if binding_name not in spec["bindings"]:
                raise self.sdoc.error(
                    f"app {name} has no binding {binding_name!r} to adopt",
                    ["config", "kvstack:apps", name, "adopt", binding_name],
                    hint=f"bindings of {name}: {', '.join(spec['bindings'])}",
                )
        bindings = tuple(
            Binding(
                name=bname,
                title=names.namespace_title(name, self.environment, bname),
                preview_title=names.preview_namespace_title(name, self.environment, bname),
                keyspace=bspec.get("keyspace"),
                optional=bool(bspec.get("optional", False)),
                adopt=(
                    Adoption(adopt_spec[bname]["id"], adopt_spec[bname].get("preview_id"))
                    if bname in adopt_spec
                    else None
                ),
            )
            for bname, bspec in spec["bindings"].items()
        )
        pages_project = None
        if kind == "pages":
            pages_project = stack_spec.get("pages_project", name)
        elif "pages_project" in stack_spec or "production_branch" in stack_spec:
            key = "pages_project" if "pages_project" in stack_spec else "production_branch"
            raise self.sdoc.error(
                f"`{key}` is for pages apps; {name} is a {kind} app", ["config", "kvstack:apps", name, key]
            )
        return App(
            name=name,
            kind=kind,
            description=spec.get("description", ""),
            bindings=bindings,
            flows=tuple(spec.get("flows", [])),
            wrangler=wrangler,
            env_file=self._inside_root(env_file, [*path, "env_file"]) if env_file else None,
            url=stack_spec.get("url"),
            production_branch=stack_spec.get("production_branch", "main" if kind == "pages" else None),
            pages_project=pages_project,
        )

    def _inside_root(self, relpath: str, path: list[str | int]) -> Path:
        """``root/relpath``, not resolved: a link stays a link, so render can refuse it instead of following it."""
        target = Path(os.path.normpath(self.root / relpath))
        if Path(relpath).is_absolute() or not target.resolve().is_relative_to(self.root):
            raise self.pdoc.error(
                f"{relpath!r} is outside the project folder",
                path,
                hint="give a path relative to the folder of Pulumi.yaml",
            )
        return target

    def _check_unique_titles(self, apps: tuple[App, ...]) -> None:
        owners: dict[str, str] = {}
        for app in apps:
            for binding in app.bindings:
                where = [*self.ppath, "apps", app.name, "bindings", binding.name]
                for title in (binding.title, binding.preview_title):
                    if len(title.encode()) > names.MAX_NAMESPACE_TITLE_BYTES:
                        raise self.pdoc.error(
                            f"derived namespace title {title[:60]!r}… is {len(title.encode())} bytes; "
                            f"Cloudflare allows {names.MAX_NAMESPACE_TITLE_BYTES}",
                            where,
                            hint="shorten the app or binding name",
                        )
                    owner = f"{app.name}.{binding.name}"
                    if title in owners:
                        raise self.pdoc.error(
                            f"derived namespace title {title!r} of {owner} collides with {owners[title]}; "
                            "Cloudflare refuses duplicate titles in an account (error 10014)",
                            where,
                            hint="rename one of the bindings or apps",
                        )
                    owners[title] = owner

    def _check_unique_pages_projects(self, apps: tuple[App, ...]) -> None:
        seen: dict[str, str] = {}
        for app in apps:
            if app.pages_project is None:
                continue
            if app.pages_project in seen:
                raise self.sdoc.error(
                    f"Pages project {app.pages_project!r} of {app.name} is also used by {seen[app.pages_project]}",
                    ["config", "kvstack:apps", app.name, "pages_project"],
                    hint="give each pages app its own project name",
                )
            seen[app.pages_project] = app.name

    def _check_adoptions(self, apps: tuple[App, ...]) -> None:
        seen: dict[str, str] = {}
        for app in apps:
            for binding in app.bindings:
                if binding.adopt is None:
                    continue
                where = ["config", "kvstack:apps", app.name, "adopt", binding.name]
                for nid in filter(None, (binding.adopt.id, binding.adopt.preview_id)):
                    if nid in seen:
                        raise self.sdoc.error(
                            f"namespace {nid} is adopted twice ({seen[nid]} and {app.name}.{binding.name})",
                            where,
                            hint="a namespace can back only one binding slot",
                        )
                    seen[nid] = f"{app.name}.{binding.name}"

    def _tokens(self, apps: tuple[App, ...]) -> tuple[Token, ...]:
        by_name = {app.name: app for app in apps}
        runtime_for: dict[str, str] = {}
        tokens = []
        for key, spec in self.project["tokens"].items():
            path: list[str | int] = [*self.ppath, "tokens", key]
            role: TokenRole = spec["role"]
            app = spec.get("app")
            if role == "runtime":
                if app is None:
                    raise self.pdoc.error(
                        "a runtime token names the rest app that uses it", path, hint="add `app: <rest app>`"
                    )
                if app not in by_name:
                    raise self.pdoc.error(
                        f"token {key} refers to undeclared app {app!r}",
                        [*path, "app"],
                        hint=f"declared apps: {', '.join(by_name)}",
                    )
                if by_name[app].kind != "rest":
                    raise self.pdoc.error(
                        f"runtime tokens are for rest apps; {app} is a {by_name[app].kind} app",
                        [*path, "app"],
                    )
                if app in runtime_for:
                    raise self.pdoc.error(f"app {app} already has runtime token {runtime_for[app]}", path)
                runtime_for[app] = key
            elif app is not None:
                raise self.pdoc.error(
                    f"{role} tokens are account-wide; `app` is only for runtime tokens", [*path, "app"]
                )
            tokens.append(
                Token(
                    key=key,
                    display_name=names.token_name(self.project_name, self.environment, key),
                    role=role,
                    app=app,
                    permissions=tuple(spec["permissions"]),
                    description=spec.get("description", ""),
                    expires_on=self._expiry(),
                )
            )
        for app in apps:
            if app.kind == "rest" and app.name not in runtime_for:
                raise self.pdoc.error(
                    f"rest app {app.name} has no runtime token",
                    [*self.ppath, "tokens"],
                    hint=f"add a token with `role: runtime` and `app: {app.name}`",
                )
        return tuple(tokens)
