"""kvstack's router: the primary worker of the one `wrangler dev`, routing ``/<app>/…`` to each app.

    http://127.0.0.1:<port>/<app>/<path>                  the app, which sees /<path>
    http://127.0.0.1:<port>/<app>/__scheduled?cron=…      the app's scheduled() handler
    http://127.0.0.1:<port>/__kvstack/apps                which Worker runs each app
    http://127.0.0.1:<port>/cdn-cgi/explorer/api/…        Miniflare's explorer API (KV of any namespace id)
    http://127.0.0.1:<port>/…                             anything else: the storage worker

This module plans that process: the one ``--env`` for every config, the route and Worker name of each
app, and the generated router config and staged storage worker in the runtime's work folder.
The JavaScript is the package's ``workers/router/worker.js`` and ``workers/storage/``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from kvstack.errors import LocalCloudflareError
from kvstack.local.apps import STAGE_IGNORE, AppSpec
from kvstack.workers import ROUTER_DIR, STORAGE_DIR
from kvstack.wranglerfile import read_wrangler_file

__all__ = ["app_url", "runtime_env", "stage_storage", "worker_names", "write_router"]

_ROUTER_NAME = "kvstack-router"
_ROUTE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def app_url(port: int, app: str) -> str:
    """Where ``app`` answers in the runtime listening on ``port``: under its own path of the router."""
    return f"http://127.0.0.1:{port}/{app}"


def runtime_env(specs: Sequence[AppSpec]) -> str | None:
    """The one ``--env`` all apps run under (None: the top level); LocalCloudflareError if they disagree.

    One ``--env`` applies to every config of a multi-config ``wrangler dev`` (wrangler 4.164), so all apps
    of one runtime run either their top level or the same ``[env.<name>]`` section; the seed stacks fit
    (dev: codex ``env.staging``, prod: codex ``env.production``, the others top level).
    """
    envs = sorted({spec.env for spec in specs if spec.env is not None})
    if len(envs) > 1:
        raise LocalCloudflareError(
            f"the apps need different wrangler environments ({', '.join(envs)}), and one `wrangler dev` "
            "applies one --env to every config",
            hint="run one environment per runtime (one stack at a time)",
        )
    env = envs[0] if envs else None
    if env is None:
        return None
    if not _ENV_NAME_RE.fullmatch(env):
        raise LocalCloudflareError(f"{env!r} is not a wrangler environment name")
    for spec in specs:
        if spec.env is None and env in read_wrangler_file(spec.config).envs:
            raise LocalCloudflareError(
                f"app {spec.name} should run its top level, but its file {spec.config} has an [env.{env}] "
                f"section that --env {env} (needed by the other apps) would run instead",
                hint=f"declare `sections: [env.{env}]` for {spec.name} or remove that section",
            )
    return env


def worker_names(specs: Sequence[AppSpec], env: str | None) -> dict[str, str]:
    """Each app's Worker name under ``--env env``, once its route name is checked; no two alike."""
    seen: set[str] = set()
    for spec in specs:
        if not _ROUTE_RE.fullmatch(spec.name) or spec.name.startswith("__"):
            raise LocalCloudflareError(f"{spec.name!r} cannot be a route: use lowercase letters, digits, - and _")
        if spec.name in seen:
            raise LocalCloudflareError(f"app {spec.name} is listed twice")
        seen.add(spec.name)
    workers = {spec.name: read_wrangler_file(spec.config).worker_name(env) for spec in specs}
    duplicates = {w for w in workers.values() if list(workers.values()).count(w) > 1}
    if duplicates:
        raise LocalCloudflareError(f"several apps are named {', '.join(sorted(duplicates))} in their wrangler files")
    return workers


def _toml_string(value: str) -> str:
    return json.dumps(value)


def write_router(
    work_dir: Path, specs: Sequence[AppSpec], workers: Mapping[str, str], env: str | None, storage_worker: str | None
) -> Path:
    """Write the router's wrangler config (one service binding per app, and the storage worker's) in ``work_dir``."""
    routes = {spec.name: f"APP_{index}" for index, spec in enumerate(specs)}
    services = [(routes[spec.name], workers[spec.name]) for spec in specs]
    if storage_worker is not None:
        services.append(("STORAGE", storage_worker))
    router_dir = work_dir / "router"
    router_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROUTER_DIR / "worker.js", router_dir / "worker.js")

    def body(prefix: str) -> list[str]:
        lines = [f"[{prefix}vars]"]
        lines.append(f"KVSTACK_ROUTES = {_toml_string(json.dumps(routes))}")
        lines.append(f"KVSTACK_WORKERS = {_toml_string(json.dumps(dict(workers)))}")
        for binding, service in services:
            lines += ["", f"[[{prefix}services]]", f"binding = {_toml_string(binding)}"]
            lines.append(f"service = {_toml_string(service)}")
        return lines

    lines = [
        "# Generated by kvstack.local.router for one run; not an app. See kvstack/workers/router/worker.js.",
        f"name = {_toml_string(_ROUTER_NAME)}",
        'main = "worker.js"',
        'compatibility_date = "2025-09-01"',
        # Fetcher.scheduled() on a service binding (the /<app>/__scheduled route).
        'compatibility_flags = ["service_binding_extra_handlers"]',
        "",
        *body(""),
    ]
    if env is not None:
        # --env applies to this file too; restate everything so wrangler does not warn or drop it.
        lines += ["", *body(f"env.{env}.")]
    config = router_dir / "wrangler.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def stage_storage(work_dir: Path) -> Path:
    """Copy the storage worker next to the router (wrangler writes .wrangler/ beside each config)."""
    target = work_dir / "storage"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(STORAGE_DIR, target, ignore=STAGE_IGNORE)
    return target / "wrangler.toml"
