"""The outputs document: the stack's one export, read from wherever it is and validated once.

Which source a run reads (a file, ``pulumi stack output``, the local Cloudflare's state) is the
target's decision (``kvstack.targets``); this module only parses. Whatever the source, the document is
validated against ``kvstack/schemas/outputs.schema.json`` and returned as frozen objects, so render,
checks and audit never see an unchecked dict.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvstack import names
from kvstack.errors import OutputsError
from kvstack.schemas import describe_error, validator
from kvstack.yamlfile import format_path

__all__ = [
    "AppOutputs",
    "BindingIds",
    "Outputs",
    "StoreOutputs",
    "TokenOutputs",
    "outputs_from_stack_output",
    "parse_outputs",
    "read_outputs_file",
]


@dataclass(frozen=True)
class BindingIds:
    """A binding's namespace ids and titles, as created."""

    id: str
    preview_id: str
    title: str
    preview_title: str


@dataclass(frozen=True)
class AppOutputs:
    name: str
    kind: str
    url: str | None
    pages_project: str | None
    bindings: Mapping[str, BindingIds]


@dataclass(frozen=True)
class TokenOutputs:
    key: str
    id: str
    name: str
    role: str
    app: str | None
    permissions: tuple[str, ...]
    expires_on: str | None  # None: the catalog declares the token `expires: never`
    # The secret itself; None unless the document was read with secrets. Never printed.
    value: str | None = None

    def __repr__(self) -> str:
        shown = "set" if self.value else "unset"
        return f"TokenOutputs(key={self.key!r}, id={self.id!r}, role={self.role!r}, value=<{shown}>)"


@dataclass(frozen=True)
class StoreOutputs:
    """An existing database an app uses; its credentials only when read with secrets. Never printed."""

    name: str
    kind: str
    app: str
    prefix: str
    test_prefix: str | None
    keyspace: str
    app_url: str | None = None  # where the store's app answers (None: not declared)
    rest_url: str | None = None
    token: str | None = None
    read_only_token: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}=<{'set' if getattr(self, f) else 'unset'}>" for f in names.STORE_SECRET_FIELDS)
        return f"StoreOutputs(name={self.name!r}, prefix={self.prefix!r}, {shown})"


@dataclass(frozen=True)
class Outputs:
    """The validated outputs document of one stack."""

    project: str
    stack: str
    environment: str
    account_id: str
    apps: Mapping[str, AppOutputs]
    tokens: Mapping[str, TokenOutputs]
    source: str
    stores: Mapping[str, StoreOutputs] = field(default_factory=dict)

    def bindings(self) -> Iterator[tuple[AppOutputs, str, BindingIds]]:
        for app in self.apps.values():
            for name, ids in app.bindings.items():
                yield app, name, ids

    def to_document(self, *, with_secrets: bool = False) -> dict[str, Any]:
        """The document as JSON data; token values only when ``with_secrets``."""
        tokens: dict[str, Any] = {}
        for key, token in self.tokens.items():
            entry: dict[str, Any] = {
                "id": token.id,
                "name": token.name,
                "role": token.role,
                "app": token.app,
                "permissions": list(token.permissions),
                "expires_on": token.expires_on,
            }
            if with_secrets and token.value is not None:
                entry["value"] = token.value
            tokens[key] = entry
        document: dict[str, Any] = {
            "schema_version": names.OUTPUTS_SCHEMA_VERSION,
            "project": self.project,
            "stack": self.stack,
            "environment": self.environment,
            "account_id": self.account_id,
            "apps": {
                app.name: {
                    "kind": app.kind,
                    "url": app.url,
                    "pages_project": app.pages_project,
                    "bindings": {
                        b: {
                            "id": i.id,
                            "preview_id": i.preview_id,
                            "title": i.title,
                            "preview_title": i.preview_title,
                        }
                        for b, i in app.bindings.items()
                    },
                }
                for app in self.apps.values()
            },
            "tokens": tokens,
        }
        if self.stores:
            document["stores"] = {
                store.name: {
                    "kind": store.kind,
                    "app": store.app,
                    "prefix": store.prefix,
                    "test_prefix": store.test_prefix,
                    "keyspace": store.keyspace,
                    "app_url": store.app_url,
                }
                for store in self.stores.values()
            }
        return document


def parse_outputs(
    document: Any,
    source: str,
    token_values: Mapping[str, str] | None = None,
    store_secrets: Mapping[str, Any] | None = None,
) -> Outputs:
    """Validate ``document`` against the outputs schema and build :class:`Outputs`."""
    errors = sorted(validator("outputs").iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        where = format_path(list(first.absolute_path)) or "(top level)"
        raise OutputsError(
            f"{source}: the outputs document is invalid at {where}: {describe_error(first)}",
            hint="regenerate it with `pulumi up` / `kvstack local up`, or check that --outputs names the right file",
        )
    values = dict(token_values or {})
    return Outputs(
        project=document["project"],
        stack=document["stack"],
        environment=document["environment"],
        account_id=document["account_id"],
        apps={
            name: AppOutputs(
                name=name,
                kind=app["kind"],
                url=app["url"],
                pages_project=app["pages_project"],
                bindings={b: BindingIds(**ids) for b, ids in app["bindings"].items()},
            )
            for name, app in document["apps"].items()
        },
        tokens={
            key: TokenOutputs(
                key=key,
                id=t["id"],
                name=t["name"],
                role=t["role"],
                app=t["app"],
                permissions=tuple(t["permissions"]),
                expires_on=t["expires_on"],
                value=t.get("value", values.get(key)),
            )
            for key, t in document["tokens"].items()
        },
        source=source,
        stores={
            name: _store(name, spec, (store_secrets or {}).get(name))
            for name, spec in document.get("stores", {}).items()
        },
    )


def _store(name: str, spec: Mapping[str, Any], secrets: Any) -> StoreOutputs:
    values = secrets if isinstance(secrets, dict) else {}

    def secret(field_name: str) -> str | None:
        value = values.get(field_name)
        return value if isinstance(value, str) and value else None

    return StoreOutputs(
        name=name,
        kind=spec["kind"],
        app=spec["app"],
        prefix=spec["prefix"],
        test_prefix=spec["test_prefix"],
        keyspace=spec["keyspace"],
        app_url=spec.get("app_url"),
        rest_url=secret("rest_url"),
        token=secret("token"),
        read_only_token=secret("read_only_token"),
    )


def read_outputs_file(path: Path) -> Outputs:
    """An outputs document saved as JSON: the document itself, or `pulumi stack output --json` of the stack."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise OutputsError(
            f"{path}: file not found",
            hint="pass the file written by `kvstack plan --json` or `pulumi stack output --json`",
        ) from exc
    except json.JSONDecodeError as exc:
        raise OutputsError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise OutputsError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise OutputsError(f"{path}: cannot read it: {exc.strerror}") from exc
    return outputs_from_stack_output(data, str(path))


def outputs_from_stack_output(data: Any, source: str) -> Outputs:
    """The document from `pulumi stack output --json` (its ``kvstack`` export and token values) or the bare one."""
    if isinstance(data, dict) and names.OUTPUTS_EXPORT in data:
        values = data.get(names.TOKEN_VALUES_EXPORT)
        token_values = values if isinstance(values, dict) else None
        secrets = data.get(names.STORE_SECRETS_EXPORT)
        store_secrets = secrets if isinstance(secrets, dict) else None
        return parse_outputs(data[names.OUTPUTS_EXPORT], source, token_values, store_secrets)
    return parse_outputs(data, source)
