"""Which resources each check runs over: one provider per fixture name, built from the catalog and the outputs.

The plugin parametrizes a check with its fixture's provider, so ``def test_x(namespace)`` runs once per
namespace of the stack. The catalog says what must be checked: a declared resource the outputs lack is
still a parameter (a :class:`MissingFromOutputs`, whose checks fail naming it), never left out.
Providers do no network I/O; the resources fetch lazily when asserted on.
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
    MissingFromOutputs,
    NamespaceResource,
    PagesDeployment,
    TokenResource,
    WorkerScript,
    WranglerFileResource,
    script_names,
)
from checks.resources.store import StoreResource, declared_prefixes
from kvstack.catalog import App
from kvstack.errors import KvstackError
from kvstack.keyspace.redis import load_redis_keyspace
from kvstack.outputs import AppOutputs, BindingIds
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


def _missing(app: str | None, label: str, what: str, *, id: str | None = None, hint: str | None = None) -> Param:
    """A declared resource the outputs lack, under the test id it would have had (``id``, else its label)."""
    missing = MissingFromOutputs(app, label, what) if hint is None else MissingFromOutputs(app, label, what, hint)
    return Param(missing, id or label, app)


def _why_no_runtime(context: CheckContext, app: str) -> str | None:
    """Why the target runs nothing for ``app`` (local: the line `kvstack local up` printed), else None."""
    line = context.no_runtime.get(app)
    return None if line is None else f"the local Cloudflare runs nothing for it ({line})"


def _app_outputs(context: CheckContext, app: App) -> AppOutputs | None:
    return context.outputs.apps.get(app.name)


def _binding_ids(context: CheckContext, app: App, binding: str) -> BindingIds | None:
    found = _app_outputs(context, app)
    return found.bindings.get(binding) if found else None


def namespaces(context: CheckContext) -> list[Param]:
    params = []
    for app, binding in context.catalog.bindings():
        ids = _binding_ids(context, app, binding.name)
        for preview in (False, True):
            label = f"{app.name}.{binding.name}{' (preview)' if preview else ''}"
            if ids is None:
                what = f"the {'preview ' if preview else ''}namespace of binding {binding.name} of app {app.name}"
                params.append(_missing(app.name, label, what))
                continue
            nid, title = (ids.preview_id, ids.preview_title) if preview else (ids.id, ids.title)
            resource = NamespaceResource(context.api, app.name, binding.name, preview, nid, title)
            params.append(Param(resource, resource.label, app.name))
    return params


def _optional(context: CheckContext, app: str) -> frozenset[str]:
    return frozenset(b.name for b in context.catalog.app(app).bindings if b.optional)


def pages_deployments(context: CheckContext) -> list[Param]:
    cache = PagesDeployment.cache_for(context.api)
    params = []
    for declared_app in context.catalog.apps:
        if declared_app.kind != "pages":
            continue
        app = _app_outputs(context, declared_app)
        for environment in ("production", "preview"):
            label = f"{declared_app.name} {environment}"
            if app is None or app.pages_project is None:
                what = f"the Pages project of app {declared_app.name}"
                params.append(_missing(declared_app.name, label, what))
                continue
            declared = {b: (i.id if environment == "production" else i.preview_id) for b, i in app.bindings.items()}
            resource = PagesDeployment(
                cache, app.name, app.pages_project, environment, declared, _optional(context, app.name)
            )
            params.append(Param(resource, label, app.name))
    return params


def worker_scripts(context: CheckContext) -> list[Param]:
    params = []
    for app in context.catalog.apps:
        if app.kind != "worker" or app.wrangler is None:
            continue
        if app.name not in context.outputs.apps:
            what = f"app {app.name} (the namespace ids its Worker must bind)"
            params += [_missing(app.name, f"{app.name} {s}", what) for s in app.wrangler.sections]
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
    """Every non-REST app whose URL the catalog declares (or the target knows)."""
    params = []
    for app in context.catalog.apps:
        if app.kind == "rest":
            continue
        url = context.app_url(app.name)
        if url is None:
            if app.url is not None:
                what = f"the URL of app {app.name} (the catalog says {app.url})"
                params.append(_missing(app.name, app.name, what, hint=_why_no_runtime(context, app.name)))
            continue
        params.append(Param(AppHealth(app.name, url), app.name, app.name))
    return params


def tokens(context: CheckContext) -> list[Param]:
    params = []
    for token in context.catalog.tokens:
        output = context.outputs.tokens.get(token.key)
        if output is None:
            params.append(_missing(token.app, token.key, f"token {token.key} ({token.display_name})"))
            continue
        resource = TokenResource(context.api, token, output, context.outputs.account_id)
        params.append(Param(resource, token.key, token.app))
    return params


def keyspaces(context: CheckContext) -> list[Param]:
    sample = None if context.options.deep else context.options.sample
    params = []
    for app, binding in context.catalog.bindings():
        if binding.keyspace is None:
            continue
        found = _binding_ids(context, app, binding.name)
        keyspace = context.keyspaces[binding.keyspace]
        for preview in (False, True):
            label = f"{app.name}.{binding.name}{' (preview)' if preview else ''}"
            if found is None:
                what = f"the {'preview ' if preview else ''}namespace of binding {binding.name} of app {app.name}"
                params.append(_missing(app.name, label, what))
                continue
            nid, title = (found.preview_id, found.preview_title) if preview else (found.id, found.title)
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
            if flow not in app.flows:
                continue
            if app.name not in context.outputs.apps:
                what = f"app {app.name}, whose {flow} flow the catalog declares"
                params.append(_missing(app.name, f"{flow} flow of {app.name}", what, id=app.name))
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
                no_runtime=context.no_runtime.get(app.name),
            )
            params.append(Param(resource, app.name, app.name))
        return params

    return provide


def _stores(context: CheckContext, every_prefix: bool, flow: str | None = None) -> list[Param]:
    params = []
    for store in context.catalog.stores:
        if flow is not None and flow not in store.flows:
            continue
        prefixes = declared_prefixes(context.catalog.root, store)
        # The database is shared: a run of one stack also judges the keys of every other declared environment.
        scanned = [p for p in prefixes if p != store.test_prefix] if every_prefix else [store.prefix]
        found = context.outputs.stores.get(store.name)
        lacking = [f for f in ("rest_url", "token", "read_only_token") if found is None or getattr(found, f) is None]
        for prefix in scanned:
            label = f"{store.name} ({prefix}:)"
            if lacking:
                keys = ", ".join(store.secret_keys[f] for f in lacking)
                hint = f"set {keys} with `pulumi config set --secret`, run `pulumi up`, read the outputs with secrets"
                params.append(
                    Param(MissingFromOutputs(store.app, label, f"store {store.name}", hint), label, store.app)
                )
                continue
            resource = StoreResource(
                store=store,
                outputs=found,
                keyspace=load_redis_keyspace(context.catalog.root, store.keyspace),
                declared_prefixes=prefixes,
                run_id=context.run_id,
                prefix=prefix,
                app_url=context.app_url(store.app),
            )
            params.append(Param(resource, resource.label, store.app))
    return params


def stores(context: CheckContext) -> list[Param]:
    return _stores(context, every_prefix=False)


def store_prefixes(context: CheckContext) -> list[Param]:
    return _stores(context, every_prefix=True)


def energy_apps(context: CheckContext) -> list[Param]:
    """The stores whose app's energy flow the catalog declares (``flows: [energy]``)."""
    return _stores(context, every_prefix=False, flow="energy")


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
    "energy_app": energy_apps,
}
