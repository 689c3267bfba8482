"""Which resources each check runs over: one provider per fixture name, built from the outputs and catalog.

The plugin parametrizes a check with its fixture's provider, so ``def test_x(namespace)`` runs once per
namespace of the stack. Providers do no network I/O; the resources fetch lazily when asserted on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checks.context import CheckContext, FlowSecrets
from checks.resources import (
    AppHealth,
    FlowApp,
    KeyspaceResource,
    NamespaceResource,
    PagesDeployment,
    TokenResource,
    WorkerScript,
    WranglerFileResource,
    script_names,
)
from checks.resources.store import StoreResource, declared_prefixes
from kvstack.errors import KvstackError
from kvstack.keyspace.redis import load_redis_keyspace
from kvstack.render import plan_render

__all__ = ["PROVIDERS", "Param", "titles"]


@dataclass(frozen=True)
class Param:
    """One resource a check runs over: the object, its test id and the app it belongs to (None: account-wide)."""

    resource: Any
    id: str
    app: str | None


def titles(context: CheckContext) -> dict[str, str]:
    """Namespace id → title, for every namespace of the stack (to name what a wrong id points at)."""
    found = {}
    for _, _, ids in context.outputs.bindings():
        found[ids.id] = ids.title
        found[ids.preview_id] = ids.preview_title
    return found


def namespaces(context: CheckContext) -> list[Param]:
    params = []
    for app, binding, ids in context.outputs.bindings():
        for preview, nid, title in ((False, ids.id, ids.title), (True, ids.preview_id, ids.preview_title)):
            resource = NamespaceResource(context.api, app.name, binding, preview, nid, title)
            params.append(Param(resource, resource.label, app.name))
    return params


def _optional(context: CheckContext, app: str) -> frozenset[str]:
    return frozenset(b.name for b in context.catalog.app(app).bindings if b.optional)


def pages_deployments(context: CheckContext) -> list[Param]:
    cache = PagesDeployment.cache_for(context.api)
    params = []
    for app in context.outputs.apps.values():
        if app.kind != "pages" or app.pages_project is None:
            continue
        for environment in ("production", "preview"):
            declared = {b: (i.id if environment == "production" else i.preview_id) for b, i in app.bindings.items()}
            resource = PagesDeployment(
                cache, app.name, app.pages_project, environment, declared, _optional(context, app.name)
            )
            params.append(Param(resource, f"{app.name} {environment}", app.name))
    return params


def worker_scripts(context: CheckContext) -> list[Param]:
    params = []
    for app in context.catalog.apps:
        if app.kind != "worker" or app.wrangler is None or app.name not in context.outputs.apps:
            continue
        running = (context.render_base / app.wrangler.relpath) if context.render_base else app.wrangler.path
        declared = {b: i.id for b, i in context.outputs.apps[app.name].bindings.items()}
        scripts = script_names(running, app.wrangler.sections, app.name)
        if app.name in context.worker_names:
            # The target runs one section per app under a name of its own (the local runtime).
            scripts = dict.fromkeys(list(scripts)[-1:], context.worker_names[app.name])
        for section, script in scripts.items():
            resource = WorkerScript(context.api, app.name, script, declared, _optional(context, app.name))
            params.append(Param(resource, f"{app.name} {section}", app.name))
    return params


def wrangler_files(context: CheckContext) -> list[Param]:
    params = []
    for app in context.catalog.apps:
        relpath = (app.wrangler.relpath if app.wrangler else None) or (
            app.env_file.relative_to(context.catalog.root).as_posix() if app.env_file else app.name
        )
        try:
            [plan] = plan_render(context.catalog, context.outputs, app=app.name, base_dir=context.render_base)
        except KvstackError as error:
            resource = WranglerFileResource(app.name, relpath, None, str(error))
        else:
            resource = WranglerFileResource(app.name, plan.relpath, plan)
        params.append(Param(resource, resource.label, app.name))
    return params


def app_health(context: CheckContext) -> list[Param]:
    params = []
    for app in context.catalog.apps:
        url = context.app_url(app.name)
        if app.kind == "rest" or url is None:
            continue
        params.append(Param(AppHealth(app.name, url), app.name, app.name))
    return params


def tokens(context: CheckContext) -> list[Param]:
    params = []
    for token in context.catalog.tokens:
        output = context.outputs.tokens.get(token.key)
        if output is None:
            continue  # the outputs schema and `pulumi up` guarantee every declared token; render reports gaps
        resource = TokenResource(context.api, token, output, context.outputs.account_id)
        params.append(Param(resource, token.key, token.app))
    return params


def keyspaces(context: CheckContext) -> list[Param]:
    sample = None if context.options.deep else context.options.sample
    params = []
    for app, binding in context.catalog.bindings():
        ids = context.outputs.apps.get(app.name)
        found = ids.bindings.get(binding.name) if ids else None
        if binding.keyspace is None or found is None:
            continue
        keyspace = context.keyspaces[binding.keyspace]
        for preview, nid, title in ((False, found.id, found.title), (True, found.preview_id, found.preview_title)):
            resource = KeyspaceResource(context.api, app.name, binding.name, preview, nid, title, keyspace, sample)
            params.append(Param(resource, resource.label, app.name))
    return params


def _runtime_token(context: CheckContext, app: str) -> str | None:
    for token in context.catalog.tokens:
        if token.role == "runtime" and token.app == app and token.key in context.outputs.tokens:
            return context.outputs.tokens[token.key].value
    return None


def _flow(flow: str) -> Callable[[CheckContext], list[Param]]:
    def provide(context: CheckContext) -> list[Param]:
        params = []
        for app in context.catalog.apps:
            if flow not in app.flows or app.name not in context.outputs.apps:
                continue
            bindings = context.outputs.apps[app.name].bindings
            resource = FlowApp(
                app=app.name,
                flow=flow,
                url=context.app_url(app.name),
                api=context.api,
                namespaces={b: ids.id for b, ids in bindings.items()},
                preview_namespaces={b: ids.preview_id for b, ids in bindings.items()},
                keyspaces={b.name: context.keyspaces[b.keyspace] for b in app.bindings if b.keyspace},
                secrets=context.flow_secrets.get(app.name) or FlowSecrets(),
                run_id=context.run_id,
                window=context.options.consistency_window,
                smoke_keys=context.smoke_keys,
                runtime_token=_runtime_token(context, app.name),
            )
            params.append(Param(resource, app.name, app.name))
        return params

    return provide


def _stores(context: CheckContext, every_prefix: bool) -> list[Param]:
    params = []
    for store in context.catalog.stores:
        prefixes = declared_prefixes(context.catalog.root, store)
        # The database is shared: a run of one stack also judges the keys of every other declared environment.
        scanned = [p for p in prefixes if p != store.test_prefix] if every_prefix else [store.prefix]
        for prefix in scanned:
            resource = StoreResource(
                store=store,
                outputs=context.outputs.stores.get(store.name),
                keyspace=load_redis_keyspace(context.catalog.root, store.keyspace),
                declared_prefixes=prefixes,
                run_id=context.run_id,
                prefix=prefix,
            )
            params.append(Param(resource, resource.label, store.app))
    return params


def stores(context: CheckContext) -> list[Param]:
    return _stores(context, every_prefix=False)


def store_prefixes(context: CheckContext) -> list[Param]:
    return _stores(context, every_prefix=True)


# fixture name -> provider. A check names one of these as its only argument.
PROVIDERS: dict[str, Callable[[CheckContext], list[Param]]] = {
    "namespace": namespaces,
    "pages_deployment": pages_deployments,
    "worker_script": worker_scripts,
    "wrangler_file": wrangler_files,
    "app_health": app_health,
    "token": tokens,
    "keyspace": keyspaces,
    "chart_app": _flow("chart"),
    "session_app": _flow("session"),
    "cache_app": _flow("cache"),
    "rest_cache_app": _flow("rest-cache"),
    "class_state_app": _flow("class-state"),
    "store": stores,
    "store_prefix": store_prefixes,
}
