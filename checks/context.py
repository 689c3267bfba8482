"""What a check run works with, built once: catalog, outputs, keyspaces, the Cloudflare API, app URLs.

The target (``kvstack.targets``: the real Cloudflare or the running ``kvstack local up``, chosen once by
``--local``) decides where outputs, API URL, token and app URLs come from; what else a local run needs
(the rendered tree, the flows' ``.dev.vars``, the runtime's Worker names) is settled here. The checks
never ask which target they run on.
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
from kvstack.cloudflare import CloudflareApi
from kvstack.errors import UsageError
from kvstack.keyspace import Keyspace, load_keyspaces
from kvstack.outputs import Outputs
from kvstack.targets import Target
from kvstack.targets.options import DEFAULT_EXPIRY_DAYS, TargetOptions
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
    "target_of",
]

CheckKind = Literal["bindings", "tokens", "keyspaces", "flows", "upstash"]
CHECK_KINDS: Final[tuple[CheckKind, ...]] = ("bindings", "tokens", "keyspaces", "flows", "upstash")
# Cloudflare KV is eventually consistent: other locations may see a write 60 s or more later.
DEFAULT_CONSISTENCY_WINDOW: Final = 60.0
# Comma-separated check kinds allowed to skip (the env form of --allow-skip).
ALLOW_SKIP_ENV: Final = "KVSTACK_ALLOW_SKIP"


@dataclass(frozen=True)
class CheckOptions(TargetOptions):
    """The knobs of a run, as given on the command line (``kvstack check`` or ``pytest checks``)."""

    apps: tuple[str, ...] = ()
    only: tuple[CheckKind, ...] = CHECK_KINDS
    consistency_window: float = DEFAULT_CONSISTENCY_WINDOW
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
    # app -> why the target runs nothing for it (local: the line `kvstack local up` printed), for the failures.
    no_runtime: dict[str, str] = field(default_factory=dict)
    # Where outputs, API and token came from (said once by the command, recorded in the report).
    source: Target | None = None
    run_id: str = field(default_factory=lambda: f"{int(time.time()):x}{secrets.token_hex(3)}")
    # (namespace id, key) of every smoke key a flow may have written; swept at the end of the run.
    smoke_keys: set[tuple[str, str]] = field(default_factory=set)
    started: float = field(default_factory=time.time)

    def close(self) -> None:
        self.api.close()

    def app_url(self, app: str) -> str | None:
        return self.app_urls.get(app)


def target_of(options: CheckOptions) -> Target:
    """The run's one target, from ``--local`` (mixing sources is refused here, exit 2)."""
    return options.target()


def build_context(options: CheckOptions, target: Target | None = None) -> CheckContext:
    """Load and validate everything the checks need; a KvstackError (exit 2) if anything is missing."""
    catalog = load_catalog(options.root, options.stack)
    _check_selection(catalog, options.apps)
    target = target or target_of(options)
    outputs = target.outputs(with_secrets=True)
    api = target.api_client(concurrency=options.concurrency, rate_limit=options.rate_limit, deadline=options.timeout)
    context = CheckContext(
        options=options,
        target="local" if options.local else "cloudflare",
        catalog=catalog,
        outputs=outputs,
        keyspaces=_keyspaces(catalog),
        api=api,
        app_urls=target.app_urls(),
        flow_secrets={app.name: _secrets_from_env(app.name) for app in catalog.apps},
        source=target,
    )
    if options.local:
        _add_local(context, target)
    return context


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


def _add_local(context: CheckContext, target: Target) -> None:
    """What a local run needs besides outputs and API: the rendered tree, its .dev.vars, the runtime's Workers."""
    from kvstack.targets.local import LocalTarget

    assert isinstance(target, LocalTarget)
    tree = target.tree()
    if tree is not None:
        context.render_base = tree
        context.flow_secrets = {app.name: _secrets_from_dev_vars(tree, app) for app in context.catalog.apps}
    context.worker_names = _runtime_workers(target.state.apps)
    context.no_runtime = {app: line for app, line in target.state.runs.items() if app not in target.state.apps}


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
