"""What a check run works with, built once: catalog, outputs, keyspaces, the Cloudflare API, app URLs.

Two targets, one shape: ``cloudflare`` (the real API, its token from the environment) and ``local``
(the running ``kvstack local up``: its API URL, its token file and its app URLs from ``local.json``).
Everything a target differs in is settled here; the checks never ask which target they run on.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import httpx

from kvstack.catalog import App, Catalog, load_catalog
from kvstack.cloudflare import ApiSettings, CloudflareApi, connect
from kvstack.errors import UsageError
from kvstack.keyspace import DEFAULT_SAMPLE, Keyspace, load_keyspaces
from kvstack.outputs import Outputs, read_outputs
from kvstack.wranglerfile import read_dev_vars

__all__ = [
    "ALLOW_SKIP_ENV",
    "CHECK_KINDS",
    "DEFAULT_CONSISTENCY_WINDOW",
    "DEFAULT_EXPIRY_DAYS",
    "CheckContext",
    "CheckKind",
    "CheckOptions",
    "FlowSecrets",
    "build_context",
]

CheckKind = Literal["bindings", "tokens", "keyspaces", "flows", "upstash"]
CHECK_KINDS: Final[tuple[CheckKind, ...]] = ("bindings", "tokens", "keyspaces", "flows", "upstash")
DEFAULT_EXPIRY_DAYS: Final = 14
# Cloudflare KV is eventually consistent: other locations may see a write 60 s or more later.
DEFAULT_CONSISTENCY_WINDOW: Final = 60.0
TOKEN_ENV: Final = "CLOUDFLARE_API_TOKEN"
API_URL_ENV: Final = "CLOUDFLARE_API_BASE_URL"
# Comma-separated check kinds allowed to skip (the env form of --allow-skip).
ALLOW_SKIP_ENV: Final = "KVSTACK_ALLOW_SKIP"


@dataclass(frozen=True)
class CheckOptions:
    """The knobs of a run, as given on the command line (``kvstack check`` or ``pytest checks``)."""

    stack: str
    root: Path
    local: bool = False
    apps: tuple[str, ...] = ()
    only: tuple[CheckKind, ...] = CHECK_KINDS
    sample: int = DEFAULT_SAMPLE
    deep: bool = False
    outputs_file: Path | None = None
    api_url: str | None = None
    expiry_days: int = DEFAULT_EXPIRY_DAYS
    consistency_window: float = DEFAULT_CONSISTENCY_WINDOW
    concurrency: int = 8
    rate_limit: int = 1200
    # Check kinds whose skipped checks do not fail the run (--allow-skip); any other skip does.
    allow_skip: tuple[CheckKind, ...] = ()


@dataclass(frozen=True)
class FlowSecrets:
    """What the flows need to drive the apps: never printed, never written to a report."""

    webhook_secret: str | None = None
    login_user: str | None = None
    login_password: str | None = None
    trusted_client_header: str | None = None

    def __repr__(self) -> str:
        shown = {name: value is not None for name, value in vars(self).items()}
        return f"FlowSecrets({shown})"


@dataclass
class CheckContext:
    """Everything shared by the checks of one run. Close it at the end (the plugin does)."""

    options: CheckOptions
    target: Literal["cloudflare", "local"]
    catalog: Catalog
    outputs: Outputs
    keyspaces: dict[str, Keyspace]
    api: CloudflareApi
    app_urls: dict[str, str]
    flow_secrets: dict[str, FlowSecrets]
    # Where the wrangler files that run live (local: the rendered tree), else None for the project's own.
    render_base: Path | None = None
    # app -> the Worker name it runs under, when the target says so (local: the runtime's /__kvstack/apps).
    worker_names: dict[str, str] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: f"{int(time.time()):x}{secrets.token_hex(3)}")
    # (namespace id, key) of every smoke key a flow may have written; swept at the end of the run.
    smoke_keys: set[tuple[str, str]] = field(default_factory=set)
    started: float = field(default_factory=time.time)

    def close(self) -> None:
        self.api.close()

    def app_url(self, app: str) -> str | None:
        return self.app_urls.get(app)


def _token_from_env(hint: str) -> str:
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise UsageError(f"no API token: {TOKEN_ENV} is not set", hint=hint)
    return token


def build_context(options: CheckOptions) -> CheckContext:
    """Load and validate everything the checks need; a KvstackError (exit 2) if anything is missing."""
    root = options.root
    catalog = load_catalog(root, options.stack)
    _check_selection(catalog, options.apps)
    if options.local:
        return _local_context(options, catalog)
    outputs = read_outputs(root, options.stack, file=options.outputs_file, with_secrets=True)
    api = connect(
        _token_from_env(
            f"export {TOKEN_ENV} with a token that can read KV, Pages, Workers and API tokens of the account, "
            "or run against the local Cloudflare with --local"
        ),
        _settings(options, outputs.account_id, options.api_url or os.environ.get(API_URL_ENV)),
    )
    return CheckContext(
        options=options,
        target="cloudflare",
        catalog=catalog,
        outputs=outputs,
        keyspaces=_keyspaces(catalog),
        api=api,
        app_urls={name: app.url for name, app in outputs.apps.items() if app.url},
        flow_secrets={app.name: _secrets_from_env(app.name) for app in catalog.apps},
    )


def _settings(options: CheckOptions, account_id: str, base_url: str | None) -> ApiSettings:
    return ApiSettings(
        account_id=account_id, base_url=base_url, concurrency=options.concurrency, rate_limit=options.rate_limit
    )


def _check_selection(catalog: Catalog, apps: Sequence[str]) -> None:
    known = [a.name for a in catalog.apps]
    for name in apps:
        if name not in known:
            raise UsageError(
                f"no app named {name!r} in stack {catalog.stack}", hint=f"declared apps: {', '.join(known)}"
            )


def _keyspaces(catalog: Catalog) -> dict[str, Keyspace]:
    return load_keyspaces(catalog.root, [b.keyspace for _, b in catalog.bindings() if b.keyspace])


def _env_name(app: str, what: str) -> str:
    return f"KVSTACK_{app.upper().replace('-', '_')}_{what}"


def _secrets_from_env(app: str) -> FlowSecrets:
    """A deployed app's flow secrets: ``KVSTACK_<APP>_WEBHOOK_SECRET``, ``…_LOGIN_USER``, ``…_LOGIN_PASSWORD``."""
    return FlowSecrets(
        webhook_secret=os.environ.get(_env_name(app, "WEBHOOK_SECRET")),
        login_user=os.environ.get(_env_name(app, "LOGIN_USER")),
        login_password=os.environ.get(_env_name(app, "LOGIN_PASSWORD")),
        trusted_client_header=os.environ.get(_env_name(app, "TRUSTED_CLIENT_HEADER")),
    )


def _secrets_from_dev_vars(tree: Path, app: App) -> FlowSecrets:
    """A local app's flow secrets: the ``.dev.vars`` that `kvstack local up` wrote beside its wrangler file."""
    if app.wrangler is None:
        return FlowSecrets()
    values = read_dev_vars(tree / Path(app.wrangler.relpath).parent / ".dev.vars")
    return FlowSecrets(
        webhook_secret=values.get("WEBHOOK_SECRET"),
        login_user=values.get("LOGIN_USER"),
        login_password=values.get("LOGIN_PASSWORD"),
        trusted_client_header=values.get("TRUSTED_CLIENT_HEADER"),
    )


def _local_context(options: CheckOptions, catalog: Catalog) -> CheckContext:
    from kvstack.local.state import LocalState, read_local_outputs, state_dir

    state = LocalState.load(options.root)
    if state is None:
        raise UsageError(
            "the local Cloudflare is not running (no .kvstack/local/local.json)",
            hint=f"start it with `kvstack local up --stack {options.stack}`",
        )
    if state.stack != options.stack:
        raise UsageError(
            f"the local Cloudflare runs stack {state.stack!r}, not {options.stack!r}",
            hint=f"run `kvstack check --stack {state.stack} --local`, or restart it with --stack {options.stack}",
        )
    if read_local_outputs(options.root, options.stack) is None and options.outputs_file is None:
        raise UsageError(
            f"the local Cloudflare has not applied stack {options.stack}",
            hint=f"run `kvstack local up --stack {options.stack}`",
        )
    outputs = read_outputs(options.root, options.stack, file=options.outputs_file, with_secrets=True)
    try:
        token = Path(state.token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(
            f"cannot read the local Cloudflare's token file {state.token_file}: {exc.strerror}",
            hint="restart it with `kvstack local down && kvstack local up`",
        ) from exc
    api_url = options.api_url or state.api_url.rstrip("/")
    if not api_url.endswith("/client/v4"):
        api_url += "/client/v4"
    api = connect(token, _settings(options, state.account_id, api_url))
    tree = state_dir(options.root) / "tree"
    return CheckContext(
        options=options,
        target="local",
        catalog=catalog,
        outputs=outputs,
        keyspaces=_keyspaces(catalog),
        api=api,
        app_urls={**{n: a.url for n, a in outputs.apps.items() if a.url}, **state.apps},
        flow_secrets={app.name: _secrets_from_dev_vars(tree, app) for app in catalog.apps},
        render_base=tree if tree.is_dir() else None,
        worker_names=_runtime_workers(state.apps),
    )


def _runtime_workers(app_urls: dict[str, str]) -> dict[str, str]:
    """The Worker name of each app in the local runtime: one `wrangler dev --env X` names them all `<name>-X`.

    Asked of the runtime's router (``/__kvstack/apps``, docs/contracts.md "Runtime"); empty if it does not answer.
    """
    bases = {url.rstrip("/").rsplit("/", 1)[0] for url in app_urls.values()}
    for base in bases:
        try:
            answer = httpx.get(f"{base}/__kvstack/apps", timeout=5.0).json()
        except (httpx.HTTPError, ValueError):
            continue
        apps = answer.get("apps") if isinstance(answer, dict) else None
        if isinstance(apps, dict):
            return {str(app): str(worker) for app, worker in apps.items()}
    return {}
