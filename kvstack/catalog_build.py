"""Building the catalog's typed objects from validated YAML, reporting every problem on the way.

Split from :mod:`kvstack.catalog` (the objects and the loader): this is the half that knows the YAML
paths. Rules about one app or token are checked here while it is built; rules across apps, tokens and
files are :data:`kvstack.catalog_rules.RULES`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kvstack import names
from kvstack.catalog import (
    CATALOG_KEY,
    Adoption,
    App,
    AppKind,
    Binding,
    Catalog,
    Token,
    TokenRole,
    WranglerFile,
    all_problems,
)
from kvstack.catalog_rules import RULES, RuleContext
from kvstack.errors import CatalogError
from kvstack.stores import build_stores
from kvstack.yamlfile import YamlDocument

__all__ = ["Builder"]


class Builder:
    """The typed objects, built even past a problem so that every problem is found in one pass.

    Rules that concern one app or token are checked while building it; rules across apps, tokens and
    files are the list :data:`kvstack.catalog_rules.RULES`. Every problem is reported at the YAML path
    it concerns; :meth:`build` raises them all at the end.
    """

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
        self.problems: list[CatalogError] = []

    def report(self, error: CatalogError) -> None:
        self.problems.append(error)

    def build(self) -> Catalog:
        stack_apps: Mapping[str, Any] = self.config.get("kvstack:apps", {})
        declared = self.project["apps"]
        for name in stack_apps:
            if name not in declared:
                self.report(
                    self.sdoc.error(
                        f"app {name!r} is not declared in Pulumi.yaml",
                        ["config", "kvstack:apps", name],
                        hint=f"declared apps: {', '.join(declared)}",
                    )
                )
        apps = tuple(self._app(name, spec, stack_apps.get(name, {})) for name, spec in declared.items())
        expiry = self._expiry()
        catalog = Catalog(
            root=self.root,
            project=self.project_name,
            stack=self.stack,
            environment=self.environment,
            account_id=self.config["kvstack:account_id"],
            protect=self._protect(),
            token_expiry=expiry,
            apps=apps,
            tokens=self._tokens(apps, expiry),
            stores=build_stores(self, apps),
        )
        context = RuleContext(catalog, self.pdoc, self.sdoc, self.ppath)
        for rule in RULES:
            self.problems.extend(rule(context))
        if self.problems:
            raise all_problems(self.problems)
        return catalog

    def _protect(self) -> bool:
        explicit = self.config.get("kvstack:protect")
        if self.environment == "prod":
            if explicit is False:
                self.report(
                    self.sdoc.error(
                        "prod namespaces are always protected",
                        ["config", "kvstack:protect"],
                        hint="remove `kvstack:protect: false`; prod data must never be lost by a program change",
                    )
                )
            return True
        return bool(explicit)

    def _expiry(self) -> datetime:
        raw = self.config["kvstack:token_expiry"]
        path: list[str | int] = ["config", "kvstack:token_expiry"]
        try:
            expiry = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            self.report(
                self.sdoc.error(
                    f"{raw!r} is not an RFC 3339 date-time", path, hint='write it like "2027-06-30T00:00:00Z"'
                )
            )
            return self.now
        if expiry.tzinfo is None:
            self.report(self.sdoc.error(f"{raw!r} has no time zone", path, hint='end it with "Z" for UTC'))
            return self.now
        if expiry <= self.now:
            self.report(
                self.sdoc.error(
                    f"token expiry {raw} is in the past",
                    path,
                    hint="set a future RFC 3339 time; tokens created with it would be born expired",
                )
            )
        return expiry.astimezone(UTC)

    def _app(self, name: str, spec: dict[str, Any], stack_spec: dict[str, Any]) -> App:
        path: list[str | int] = [*self.ppath, "apps", name]
        kind: AppKind = spec["kind"]
        wrangler_spec = spec.get("wrangler")
        env_file = spec.get("env_file")
        if kind == "rest":
            if wrangler_spec is not None:
                self.report(
                    self.pdoc.error(
                        "a rest app has no wrangler file",
                        [*path, "wrangler"],
                        hint="remove `wrangler`; rest apps get an `env_file`",
                    )
                )
                wrangler_spec = None
            if env_file is None:
                self.report(
                    self.pdoc.error("a rest app needs `env_file`", path, hint="add `env_file: apps/<app>/.env`")
                )
        else:
            if wrangler_spec is None:
                self.report(
                    self.pdoc.error(
                        f"a {kind} app needs a `wrangler` file",
                        path,
                        hint="add `wrangler: {path: apps/<app>/wrangler.toml, format: toml}`",
                    )
                )
            if env_file is not None:
                self.report(self.pdoc.error(f"`env_file` is for rest apps, not {kind} apps", [*path, "env_file"]))
                env_file = None
        sections = tuple(stack_spec.get("sections", [names.WRANGLER_TOP_SECTION]))
        if kind == "rest" and "sections" in stack_spec:
            self.report(
                self.sdoc.error("a rest app has no wrangler sections", ["config", "kvstack:apps", name, "sections"])
            )
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
                self.report(
                    self.sdoc.error(
                        f"app {name} has no binding {binding_name!r} to adopt",
                        ["config", "kvstack:apps", name, "adopt", binding_name],
                        hint=f"bindings of {name}: {', '.join(spec['bindings'])}",
                    )
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
            self.report(
                self.sdoc.error(
                    f"`{key}` is for pages apps; {name} is a {kind} app", ["config", "kvstack:apps", name, key]
                )
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
            self.report(
                self.pdoc.error(
                    f"{relpath!r} is outside the project folder",
                    path,
                    hint="give a path relative to the folder of Pulumi.yaml",
                )
            )
        return target

    def _tokens(self, apps: tuple[App, ...], expiry: datetime) -> tuple[Token, ...]:
        by_name = {app.name: app for app in apps}
        runtime_for: dict[str, str] = {}
        tokens = []
        for key, spec in self.project["tokens"].items():
            path: list[str | int] = [*self.ppath, "tokens", key]
            role: TokenRole = spec["role"]
            app = spec.get("app")
            if role == "runtime":
                if app is None:
                    self.report(
                        self.pdoc.error(
                            "a runtime token names the rest app that uses it", path, hint="add `app: <rest app>`"
                        )
                    )
                elif app not in by_name:
                    self.report(
                        self.pdoc.error(
                            f"token {key} refers to undeclared app {app!r}",
                            [*path, "app"],
                            hint=f"declared apps: {', '.join(by_name)}",
                        )
                    )
                elif by_name[app].kind != "rest":
                    self.report(
                        self.pdoc.error(
                            f"runtime tokens are for rest apps; {app} is a {by_name[app].kind} app", [*path, "app"]
                        )
                    )
                elif app in runtime_for:
                    self.report(self.pdoc.error(f"app {app} already has runtime token {runtime_for[app]}", path))
                else:
                    runtime_for[app] = key
            elif app is not None:
                self.report(
                    self.pdoc.error(f"{role} tokens are account-wide; `app` is only for runtime tokens", [*path, "app"])
                )
            tokens.append(
                Token(
                    key=key,
                    display_name=names.token_name(self.project_name, self.environment, key),
                    role=role,
                    app=app,
                    permissions=tuple(spec["permissions"]),
                    description=spec.get("description", ""),
                    expires_on=None if spec.get("expires") == "never" else expiry,
                )
            )
        for app_ in apps:
            if (
                app_.kind == "rest"
                and app_.name not in runtime_for
                and not any(t.app == app_.name and t.role == "runtime" for t in tokens)
            ):
                self.report(
                    self.pdoc.error(
                        f"rest app {app_.name} has no runtime token",
                        [*self.ppath, "tokens"],
                        hint=f"add a token with `role: runtime` and `app: {app_.name}`",
                    )
                )
        return tuple(tokens)
