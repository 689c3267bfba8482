"""The local runtime's process: ONE `wrangler dev`, one workerd, one KV store, for every app.

Several `wrangler dev` processes on one ``--persist-to`` folder do not share KV reliably: workerd's
SQLite answers ``SQLITE_BUSY`` to a process that writes while another one does, and the Worker's
``put`` fails with a 500 (measured: 88 and 155 of 500 concurrent puts lost in two runs; docs/contracts.md,
"Runtime"). So every app runs as an auxiliary worker (``-c`` config) of one ``wrangler dev`` whose
primary worker is kvstack's router (``router.py``), and the storage worker runs in the same process.

This module starts that process, waits until every app runs the view it should (``views.py``),
records it for a state file and stops it (:func:`kvstack.local.wrangler.stop_runtime`, from any process).
The apps and their files are ``apps.py``'s; the routes and the generated router config ``router.py``'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvstack.errors import LocalCloudflareError
from kvstack.local.apps import AppSpec
from kvstack.local.loopback import answer, loopback_client
from kvstack.local.router import app_url, runtime_env, stage_storage, worker_names, write_router
from kvstack.local.views import PROBE_PATH, deployed_view_text, view_is_written, view_of, write_view
from kvstack.local.wrangler import WranglerProcess, free_port, spawn_wrangler_dev, stop_runtime
from kvstack.wranglerfile import read_wrangler_file

if TYPE_CHECKING:
    import httpx

__all__ = ["LocalRuntime", "RunningApp", "launch_runtime", "start_runtime"]

# Once the router answers, workerd has loaded every worker; an app that still does not answer is misconfigured.
_APPS_READY_TIMEOUT = 20.0
# wrangler dev reloads a changed config in well under a second; a view still not loaded after this long
# means the change was missed (written before wrangler watched the file), and the runtime is restarted.
_RELOAD_GRACE = 10.0


@dataclass(frozen=True)
class RunningApp:
    """An app inside a running runtime. All apps share the runtime's process and port."""

    name: str
    url: str
    port: int
    pid: int
    worker: str
    config: Path
    section: str


@dataclass
class LocalRuntime:
    """The running `wrangler dev` with the router, the storage worker and the apps."""

    url: str
    port: int
    pid: int
    log_file: Path
    persist_to: Path
    env: str | None
    apps: dict[str, RunningApp] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    relaunch: Callable[[], WranglerProcess] | None = None

    @property
    def storage_url(self) -> str:
        """Where the storage worker and Miniflare's explorer API answer (the same process as the apps)."""
        return self.url

    @property
    def explorer_url(self) -> str:
        """Base of Miniflare's local explorer API: ``…/storage/kv/namespaces/<id>/values/<key>`` etc."""
        return f"{self.url}/cdn-cgi/explorer/api"

    def app(self, name: str) -> RunningApp:
        try:
            return self.apps[name]
        except KeyError:
            raise LocalCloudflareError(
                f"app {name!r} is not running in the local runtime",
                hint=f"running: {', '.join(self.apps) or 'none'}",
            ) from None

    def trigger_scheduled(self, app: str, cron: str = "", *, timeout: float = 30.0) -> dict[str, Any]:
        """Run ``app``'s scheduled() handler once, like a cron trigger; returns ``{outcome, noRetry}``."""
        with loopback_client(timeout=timeout) as client:
            response = client.get(f"{self.app(app).url}/__scheduled", params={"cron": cron})
        result: dict[str, Any] = response.json()
        return result

    def load_views(self, specs: Sequence[AppSpec], *, timeout: float = 120.0) -> None:
        """Write each app's :func:`deployed_view`; one that changes, only once wrangler has started.

        wrangler dev watches its files once it has read them; a file rewritten while it is still
        starting may be missed (the app keeps the old view) or may restart its first bundle halfway.
        So a changed view waits until the runtime answers, and then its reload is certain.
        An unchanged view is not written and waits for nothing. On failure the runtime is stopped.
        """
        texts = {spec.name: deployed_view_text(spec) for spec in specs}
        if any(not view_is_written(spec, texts[spec.name]) for spec in specs):
            self.wait_started(timeout=timeout)
        for spec in specs:
            write_view(spec, texts[spec.name])

    def wait_started(self, *, timeout: float = 120.0) -> None:
        """Return once the router answers: wrangler dev runs, on whatever views it read. Stops it on failure."""
        process = WranglerProcess(
            name="runtime", url=self.url, port=self.port, pid=self.pid, log_file=self.log_file, process=self.process
        )
        try:
            process.wait("/__kvstack/apps", timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, *, timeout: float = 120.0) -> None:
        """Return once every app answers and runs the file it should.

        An app whose file is a deployed view is asked through the view's probe (``GET /<app>/__kvstack/view``,
        answered before the app's own code) and must report that view's :data:`VIEW_VAR`: wrangler dev
        reloads a rewritten view on its own, and until the app reports the new one it still runs the old
        one. An app running a file that is no view must answer ``GET /<app>/health`` with its JSON (200,
        or 503 for a required binding missing).
        A view not loaded within ``_RELOAD_GRACE`` seconds is loaded by restarting the runtime, once.
        On any failure the runtime is stopped.
        """
        try:
            self._wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, *, timeout: float) -> None:
        wanted = {name: view_of(app.config, app.section) for name, app in self.apps.items()}
        self.wait_started(timeout=timeout)
        stale = _wait_for_apps(self, wanted, deadline=time.monotonic() + _APPS_READY_TIMEOUT, grace=_RELOAD_GRACE)
        if not stale:
            return
        if self.relaunch is None:
            raise self._not_loaded(stale)
        self.stop()
        restarted = self.relaunch()
        self.pid, self.process, self.relaunch = restarted.pid, restarted.process, None
        self.apps = {name: dataclasses.replace(app, pid=restarted.pid) for name, app in self.apps.items()}
        self.wait_started(timeout=timeout)
        stale = _wait_for_apps(self, wanted, deadline=time.monotonic() + _APPS_READY_TIMEOUT, grace=_RELOAD_GRACE)
        if stale:
            raise self._not_loaded(stale)

    def _not_loaded(self, stale: Mapping[str, str | None]) -> LocalCloudflareError:
        running = ", ".join(f"{name} runs view {view}" for name, view in stale.items())
        return LocalCloudflareError(
            f"wrangler dev did not load the rewritten configuration: {running}", hint=f"see {self.log_file}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process group (wrangler, workerd). Safe to call twice."""
        stop_runtime(self.pid, timeout=timeout)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)

    def record(self) -> dict[str, Any]:
        """A JSON-serialisable description, for a state file; :meth:`from_record` reads it back."""
        return {
            "url": self.url,
            "port": self.port,
            "pid": self.pid,
            "log_file": str(self.log_file),
            "persist_to": str(self.persist_to),
            "env": self.env,
            "apps": {
                name: {
                    "url": app.url,
                    "worker": app.worker,
                    "config": str(app.config),
                    "section": app.section,
                }
                for name, app in self.apps.items()
            },
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> LocalRuntime:
        port = int(data["port"])
        pid = int(data["pid"])
        apps = {
            name: RunningApp(
                name=name,
                url=str(app["url"]),
                port=port,
                pid=pid,
                worker=str(app["worker"]),
                config=Path(app["config"]),
                section=str(app["section"]),
            )
            for name, app in data.get("apps", {}).items()
        }
        return cls(
            url=str(data["url"]),
            port=port,
            pid=pid,
            log_file=Path(data["log_file"]),
            persist_to=Path(data["persist_to"]),
            env=data.get("env"),
            apps=apps,
        )


def start_runtime(
    apps: Sequence[AppSpec],
    *,
    persist_to: Path,
    log_dir: Path,
    work_dir: Path,
    port: int | None = None,
    storage: bool = True,
    timeout: float = 120.0,
) -> LocalRuntime:
    """Start the router, the storage worker (unless ``storage=False``) and ``apps`` in one `wrangler dev`.

    Returns once every app answers (see :meth:`LocalRuntime.wait_ready`). ``work_dir`` is a folder this
    module owns (the router's generated wrangler file, a copy of the storage worker); ``log_dir/runtime.log``
    gets wrangler's output. The process leads its own process group: :func:`stop_runtime` with the
    recorded pid stops it from any process.
    """
    runtime = launch_runtime(
        apps, persist_to=persist_to, log_dir=log_dir, work_dir=work_dir, port=port, storage=storage
    )
    runtime.wait_ready(timeout=timeout)
    return runtime


def launch_runtime(
    apps: Sequence[AppSpec],
    *,
    persist_to: Path,
    log_dir: Path,
    work_dir: Path,
    port: int | None = None,
    storage: bool = True,
) -> LocalRuntime:
    """:func:`start_runtime` without the wait: the process is starting when this returns.

    Its apps' views may be rewritten meanwhile with :meth:`LocalRuntime.load_views` (wrangler dev reloads
    them); :meth:`LocalRuntime.wait_ready` then waits for what the files say at the time it is called.
    """
    env = runtime_env(apps)
    workers = worker_names(apps, env)

    work_dir = work_dir.resolve()
    configs: list[Path] = []
    storage_worker = None
    if storage:
        storage_config = stage_storage(work_dir)
        configs.append(storage_config)
        storage_worker = read_wrangler_file(storage_config).worker_name(env)
    router = write_router(work_dir, apps, workers, env, storage_worker)
    configs = [*(spec.config.resolve() for spec in apps), *configs]
    extra_args: list[str] = []
    for config in configs:
        extra_args += ["--config", str(config)]
    if env is not None:
        extra_args += ["--env", env]
    port = port or free_port()

    def spawn() -> WranglerProcess:
        return spawn_wrangler_dev(
            router,
            name="runtime",
            port=port,
            persist_to=persist_to,
            log_file=log_dir / "runtime.log",
            extra_args=extra_args,
        )

    process = spawn()
    runtime = LocalRuntime(
        url=process.url,
        port=process.port,
        pid=process.pid,
        log_file=process.log_file,
        persist_to=persist_to.resolve(),
        env=env,
        process=process.process,
        relaunch=spawn,
    )
    for spec in apps:
        runtime.apps[spec.name] = RunningApp(
            name=spec.name,
            url=app_url(process.port, spec.name),
            port=process.port,
            pid=process.pid,
            worker=workers[spec.name],
            config=spec.config.resolve(),
            section=spec.section,
        )
    return runtime


def _wait_for_apps(
    runtime: LocalRuntime, wanted: Mapping[str, str | None], *, deadline: float, grace: float
) -> dict[str, str | None]:
    """Wait for every app's health; returns the apps still on another view than ``wanted`` after ``grace`` s."""
    stale: dict[str, str | None] = {}
    give_up_on_views = time.monotonic() + grace
    with loopback_client() as client:
        for app in runtime.apps.values():
            last = "no answer"
            # A view answers its probe whatever the app's routes are; a file that is no view, the app's /health.
            probe = f"{app.url}{PROBE_PATH}" if wanted.get(app.name) is not None else f"{app.url}/health"
            while True:
                response = answer(client, probe)
                body = _json_object(response)
                if body is not None and "app" in body:
                    if wanted.get(app.name) in (None, body.get("view")):
                        break
                    if time.monotonic() > give_up_on_views:
                        stale[app.name] = body.get("view")
                        break
                    last = f"runs view {body.get('view')}, not {wanted[app.name]}"
                elif isinstance(response, Exception):
                    last = str(response) or type(response).__name__
                else:
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                if time.monotonic() > deadline:
                    tail = "\n".join(runtime.log_file.read_text(errors="replace").splitlines()[-30:])
                    raise LocalCloudflareError(
                        f"app {app.name} (worker {app.worker}) did not answer {probe}: {last}\n{tail}",
                        hint=f"see {runtime.log_file}",
                    )
                time.sleep(0.05)
    return stale


def _json_object(response: httpx.Response | Exception) -> dict[str, Any] | None:
    if isinstance(response, Exception) or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
