"""Stores of the catalog: existing databases an app uses, declared but not provisioned by kvstack.

Kind ``upstash`` is an Upstash Redis database shared by every environment, which isolate themselves by a
key prefix (``<prefix>:<key>``, the app's ``KV_NAMESPACE``). Pulumi.yaml declares the store under
``kvstack:catalog.value.stores``; each stack may set its prefix (``kvstack:stores.<name>.prefix``, the
environment's name by default) and where the store's app answers (``kvstack:stores.<name>.app_url``, as an
app's ``url``: the store's flows run against it on the real Cloudflare), and holds the REST URL and both
tokens as Pulumi config secrets (``kvstack:store.<name>.rest_url|token|read_only_token``, written by
``pulumi config set --secret``).
There is no maintained Pulumi provider for Upstash on the package index here, so nothing is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from kvstack import names
from kvstack.yamlfile import YamlDocument

if TYPE_CHECKING:
    from kvstack.catalog import App

__all__ = ["Store", "build_stores", "refuse_plain_store_secrets"]

STORE_SECRET_PREFIX = "kvstack:store."


@dataclass(frozen=True)
class Store:
    """An existing database an app uses (kind upstash: an Upstash Redis), as this stack sees it.

    Its REST URL and tokens are Pulumi config secrets of the stack (``secret_keys``), never in the catalog;
    ``secrets_set`` names those the stack file holds.
    """

    name: str
    kind: Literal["upstash"]
    description: str
    app: str
    keyspace: str
    env_file: Path
    prefix: str
    test_prefix: str | None
    flows: tuple[str, ...]
    secret_keys: Mapping[str, str]
    secrets_set: tuple[str, ...]
    app_url: str | None = None  # where the store's app answers in this stack's environment

    def key(self, key: str, *, prefix: str | None = None) -> str:
        """``<prefix>:<key>``, as the app's kvKey() helper writes it (this stack's prefix by default)."""
        return f"{prefix or self.prefix}:{key}"


class _CatalogBuilder(Protocol):
    """What the catalog's builder offers store building (see kvstack.catalog._Builder)."""

    stack: str
    environment: str
    project: dict[str, Any]
    config: dict[str, Any]
    pdoc: YamlDocument
    sdoc: YamlDocument
    ppath: list[str | int]

    def _inside_root(self, relpath: str, path: list[str | int]) -> Path: ...


def refuse_plain_store_secrets(doc: YamlDocument, config: Mapping[str, Any]) -> None:
    """A store credential written in clear is refused before the schema runs (its message would quote it)."""
    for key, value in config.items():
        if isinstance(key, str) and key.startswith(STORE_SECRET_PREFIX) and not isinstance(value, dict):
            raise doc.error(
                f"{key} is a plain value; store credentials are Pulumi secrets",
                ["config", key],
                hint=f"remove it and run `pulumi config set --secret {key} <value>` (it writes `secure: …`); "
                "rotate the credential if this file was committed",
            )


def build_stores(builder: _CatalogBuilder, apps: tuple[App, ...]) -> tuple[Store, ...]:
    """The stores of the stack; each cross-file rule raises at the YAML path it concerns."""
    declared: Mapping[str, Any] = builder.project.get("stores", {})
    stack_stores: Mapping[str, Any] = builder.config.get("kvstack:stores", {})
    known = ", ".join(declared) or "none"
    for name in stack_stores:
        if name not in declared:
            raise builder.sdoc.error(
                f"store {name!r} is not declared in Pulumi.yaml",
                ["config", "kvstack:stores", name],
                hint=f"declared stores: {known}",
            )
    for key in builder.config:
        if key.startswith(STORE_SECRET_PREFIX) and key.split(".")[1] not in declared:
            raise builder.sdoc.error(
                f"{key} is for store {key.split('.')[1]!r}, which Pulumi.yaml does not declare",
                ["config", key],
                hint=f"declared stores: {known}",
            )
    env_files = {app.env_file: app.name for app in apps if app.env_file is not None}
    stores = []
    for name, spec in declared.items():
        path: list[str | int] = [*builder.ppath, "stores", name]
        env_file = builder._inside_root(spec["env_file"], [*path, "env_file"])
        if env_file in env_files:
            raise builder.pdoc.error(
                f"{spec['env_file']} is already the env file of app {env_files[env_file]}",
                [*path, "env_file"],
                hint="give the store's app its own .env",
            )
        env_files[env_file] = spec["app"]
        prefix = stack_stores.get(name, {}).get("prefix", builder.environment)
        test_prefix = spec.get("test_prefix")
        if test_prefix == prefix:
            raise builder.sdoc.error(
                f"stack {builder.stack} would use store {name} under {prefix!r}, the prefix of its tests",
                ["config", "kvstack:stores", name] if name in stack_stores else ["config", "kvstack:environment"],
                hint="tests delete what they write under their prefix: give the stack its own "
                f"(`kvstack:stores: {{{name}: {{prefix: …}}}}`)",
            )
        keys = {field: names.store_secret_key(name, field) for field in names.STORE_SECRET_FIELDS}
        stores.append(
            Store(
                name=name,
                kind=spec["kind"],
                description=spec.get("description", ""),
                app=spec["app"],
                keyspace=spec["keyspace"],
                env_file=env_file,
                prefix=prefix,
                test_prefix=test_prefix,
                flows=tuple(spec.get("flows", [])),
                secret_keys=keys,
                secrets_set=tuple(field for field, key in keys.items() if key in builder.config),
                app_url=stack_stores.get(name, {}).get("app_url"),
            )
        )
    return tuple(stores)
