"""The reference apps on real wrangler/Miniflare: ONE `wrangler dev`, one workerd, one KV store.

Several `wrangler dev` processes on one ``--persist-to`` folder do not share KV reliably: workerd's
SQLite answers ``SQLITE_BUSY`` to a process that writes while another one does, and the Worker's
``put`` fails with a 500 (measured: 88 and 155 of 500 concurrent puts lost in two runs; docs/contracts.md,
"Runtime").
So every app runs as an auxiliary worker (``-c`` config) of one ``wrangler dev`` whose primary worker
is kvstack's router (``local/apps/_router``), and the storage worker runs in the same process:

    http://127.0.0.1:<port>/<app>/<path>                  the app, which sees /<path>
    http://127.0.0.1:<port>/<app>/__scheduled?cron=…      the app's scheduled() handler
    http://127.0.0.1:<port>/cdn-cgi/explorer/api/…        Miniflare's explorer API (KV of any namespace id)
    http://127.0.0.1:<port>/…                             anything else: the storage worker

Layout the runtime expects: ``<rendered_dir>/<app>/<wrangler file>`` beside the app's sources (what
:func:`stage_reference_apps` copies and ``kvstack render`` then fills in), an optional ``.dev.vars``
beside each wrangler file (:func:`write_dev_vars`), a persist folder and a log folder.

One ``--env`` applies to every config of a multi-config ``wrangler dev`` (wrangler 4.164), so all apps
of one runtime run either their top level or the same ``[env.<name>]`` section; the seed stacks fit
(dev: codex ``env.staging``, prod: codex ``env.production``, the others top level).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvstack import names
from kvstack.catalog import App, Catalog
from kvstack.errors import LocalCloudflareError
from kvstack.files import atomic_write
from kvstack.local.kvcount import instrument_view
from kvstack.local.loopback import answer, loopback_client
from kvstack.local.wrangler import PROJECT_ROOT, WranglerProcess, free_port, spawn_wrangler_dev

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEPLOYED_CONFIG",
    "LOCAL_LOGIN_PASSWORD",
    "LOCAL_LOGIN_USER",
    "LOCAL_WEBHOOK_SECRET",
    "REFERENCE_APPS_DIR",
    "ROUTER_DIR",
    "STORAGE_DIR",
    "TRUSTED_CLIENT_HEADER",
    "VIEW_VAR",
    "AppSpec",
    "LocalRuntime",
    "RunningApp",
    "app_specs",
    "app_url",
    "deployed_view",
    "launch_runtime",
    "local_dev_vars",
    "read_wrangler_file",
    "run_section",
    "section_table",
    "stage_reference_apps",
    "start_runtime",
    "stop_runtime",
    "worker_name",
    "write_dev_vars",
]

REFERENCE_APPS_DIR = PROJECT_ROOT / "local" / "apps"
ROUTER_DIR = REFERENCE_APPS_DIR / "_router"
STORAGE_DIR = PROJECT_ROOT / "local" / "storage"

# Obviously-local defaults for what a deployed app gets from `wrangler secret put`. They are written to
# .dev.vars (git-ignored state folder) by `kvstack local up`, never into a committed wrangler file.
LOCAL_WEBHOOK_SECRET = "kvstack-local-webhook-secret"
LOCAL_LOGIN_USER = "kvstack-smoke-user"
LOCAL_LOGIN_PASSWORD = "kvstack-local-password"
# Locally every request comes from 127.0.0.1; codex takes the rate-limit client id from this header instead.
TRUSTED_CLIENT_HEADER = "x-kvstack-client"

_LOCAL_DEV_VARS: dict[str, dict[str, str]] = {
    "dubai-app-front": {"WEBHOOK_SECRET": LOCAL_WEBHOOK_SECRET},
    "codex": {
        "LOGIN_USER": LOCAL_LOGIN_USER,
        "LOGIN_PASSWORD": LOCAL_LOGIN_PASSWORD,
        "TRUSTED_CLIENT_HEADER": TRUSTED_CLIENT_HEADER,
    },
}

_ROUTER_NAME = "kvstack-router"
# Once the router answers, workerd has loaded every worker; an app that still does not answer is misconfigured.
_APPS_READY_TIMEOUT = 20.0
# wrangler dev reloads a changed config in well under a second; a view still not loaded after this long
# means the change was missed (written before wrangler watched the file), and the runtime is restarted.
_RELOAD_GRACE = 10.0

# The file the runtime runs beside each rendered wrangler file, and the var in it naming its content.
DEPLOYED_CONFIG = "wrangler.deployed.json"
VIEW_VAR = "KVSTACK_VIEW"
_ROUTE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_STAGE_IGNORE = shutil.ignore_patterns(".wrangler", "node_modules", ".dev.vars*", ".env*")


@dataclass(frozen=True)
class AppSpec:
    """One app to run: its route name, its rendered wrangler file and the section of it to run."""

    name: str
    config: Path
    section: str = names.WRANGLER_TOP_SECTION

    @property
    def deployed_config(self) -> Path:
        """Where this app's deployed view (:func:`deployed_view`) is written, beside the rendered file."""
        return self.config.with_name(DEPLOYED_CONFIG)

    @property
    def env(self) -> str | None:
        """The wrangler ``--env`` this section means, or None for the top level."""
        if self.section == names.WRANGLER_TOP_SECTION:
            return None
        return self.section.removeprefix("env.")


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
        texts = {spec.name: _deployed_view_text(spec) for spec in specs}
        if any(not _view_is_written(spec, texts[spec.name]) for spec in specs):
            self.wait_started(timeout=timeout)
        for spec in specs:
            _write_view(spec, texts[spec.name])

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
        """Return once every app answers ``GET /<app>/health`` with its JSON and runs the file it should.

        200 and 503 (a required binding missing) both mean the app runs. An app whose file is a
        deployed view must also report that view's :data:`VIEW_VAR` in its health: wrangler dev reloads
        a rewritten view on its own, and until the app reports the new one it still runs the old one.
        A view not loaded within ``_RELOAD_GRACE`` seconds is loaded by restarting the runtime, once.
        On any failure the runtime is stopped.
        """
        try:
            self._wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, *, timeout: float) -> None:
        wanted = {name: _view_of(app.config, app.section) for name, app in self.apps.items()}
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


def run_section(app: App) -> str:
    """The section of ``app``'s wrangler file that runs: its one ``env.*`` section, else the top level."""
    if app.wrangler is None:
        raise LocalCloudflareError(f"app {app.name} is a {app.kind} app without a wrangler file; it does not run")
    sections = app.wrangler.sections
    envs = [s for s in sections if s != names.WRANGLER_TOP_SECTION]
    if len(envs) == 1:
        return envs[0]
    if not envs:
        return names.WRANGLER_TOP_SECTION
    raise LocalCloudflareError(
        f"app {app.name} owns several wrangler environments ({', '.join(envs)}); the local runtime runs one",
        hint="give the stack one env section per app in Pulumi.<stack>.yaml `sections`",
    )


def app_specs(catalog: Catalog, rendered_dir: Path) -> list[AppSpec]:
    """The apps of ``catalog`` that run (those with a wrangler file), as rendered under ``rendered_dir``.

    Each app's rendered file is ``<rendered_dir>/<app>/<file name of its catalog wrangler path>``.
    """
    specs = []
    for app in catalog.apps:
        if app.wrangler is None:
            continue
        config = rendered_dir / app.name / Path(app.wrangler.relpath).name
        specs.append(AppSpec(name=app.name, config=config, section=run_section(app)))
    return specs


def stage_reference_apps(dest: Path, apps: Iterable[str] | None = None) -> dict[str, Path]:
    """Copy the reference apps (``local/apps/<app>/``) to ``dest/<app>/``; returns each app's folder.

    The copies carry placeholder namespace ids until ``kvstack render`` writes the real ones into them.
    An existing copy is replaced, except its ``.dev.vars`` and its deployed view (the last one the runtime
    ran, which `kvstack local up` starts on while the stack is applied).
    """
    available = sorted(p.name for p in REFERENCE_APPS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))
    wanted = list(apps) if apps is not None else available
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise LocalCloudflareError(
            f"no reference app named {', '.join(unknown)} in {REFERENCE_APPS_DIR}",
            hint=f"reference apps: {', '.join(available)}",
        )
    staged = {}
    for name in wanted:
        target = dest / name
        kept = {
            file_name: ((target / file_name).read_bytes(), (target / file_name).stat())
            for file_name in (".dev.vars", DEPLOYED_CONFIG)
            if (target / file_name).is_file()
        }
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(REFERENCE_APPS_DIR / name, target, ignore=_STAGE_IGNORE)
        for file_name, (content, status) in kept.items():
            fd = os.open(target / file_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, status.st_mode & 0o777)
            with os.fdopen(fd, "wb") as stream:
                stream.write(content)
            os.utime(target / file_name, ns=(status.st_atime_ns, status.st_mtime_ns))
        staged[name] = target
    return staged


def local_dev_vars(app: str) -> dict[str, str]:
    """The documented local secrets and settings of a reference app (empty for apps that need none)."""
    return dict(_LOCAL_DEV_VARS.get(app, {}))


def write_dev_vars(app_dir: Path, values: Mapping[str, str]) -> Path:
    """Write ``values`` as ``<app_dir>/.dev.vars`` (mode 0600), where wrangler dev reads the app's secrets.

    .dev.vars is read per config file, so it reaches every worker of the multi-config process; ``--var``
    would reach only the primary (the router).
    """
    lines = []
    for key, value in values.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise LocalCloudflareError(f"{key!r} is not a valid variable name for .dev.vars")
        lines.append(f"{key}={json.dumps(value)}\n")
    path = app_dir / ".dev.vars"
    app_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write("".join(lines))
    os.chmod(path, 0o600)
    return path


def _read_wrangler_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LocalCloudflareError(
            f"cannot read the wrangler file {path}: {exc.strerror}",
            hint="stage the apps (stage_reference_apps) and render them before starting the runtime",
        ) from exc
    try:
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else _load_jsonc(text)
    except Exception as exc:  # tomllib.TOMLDecodeError or json5's own errors
        raise LocalCloudflareError(f"{path} does not parse: {exc}") from exc
    if not isinstance(data, dict):
        raise LocalCloudflareError(f"{path} is not a wrangler configuration (expected a table/object)")
    return data


def _load_jsonc(text: str) -> Any:
    """A wrangler.json(c) document: plain JSON by the standard library, else JSONC by json-five.

    Most files are plain JSON (every deployed view is), which the standard library parses some 500
    times faster; comments and trailing commas need json-five.
    """
    try:
        return json.loads(text)
    except ValueError:
        import json5  # only now: `local up` reads plain JSON before it starts wrangler

        return json5.loads(text)


def read_wrangler_file(path: Path) -> dict[str, Any]:
    """A wrangler.toml / wrangler.json(c) file as a dict; LocalCloudflareError if unreadable or invalid."""
    return _read_wrangler_file(path)


def worker_name(config: Path, env: str | None) -> str:
    """The name workerd gives the worker of ``config`` when `wrangler dev` runs with ``--env env``.

    One ``--env`` applies to every config of the process, and wrangler then names each worker
    ``<name>-<env>``, even one whose file has no such section (it runs its top level and warns),
    unless the section sets its own ``name``.
    """
    data = _read_wrangler_file(config)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise LocalCloudflareError(f"{config} has no `name`", hint="wrangler needs the worker's name")
    if env is None:
        return name
    section = data.get("env", {}).get(env, {})
    if isinstance(section, dict) and isinstance(section.get("name"), str):
        return str(section["name"])
    return f"{name}-{env}"


def _env_of(specs: Sequence[AppSpec]) -> str | None:
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
        if spec.env is None and env in _read_wrangler_file(spec.config).get("env", {}):
            raise LocalCloudflareError(
                f"app {spec.name} should run its top level, but its file {spec.config} has an [env.{env}] "
                f"section that --env {env} (needed by the other apps) would run instead",
                hint=f"declare `sections: [env.{env}]` for {spec.name} or remove that section",
            )
    return env


def _toml_string(value: str) -> str:
    return json.dumps(value)


def _write_router(
    work_dir: Path, specs: Sequence[AppSpec], workers: Mapping[str, str], env: str | None, storage_worker: str | None
) -> Path:
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
        "# Generated by kvstack.local.runtime for one run; not an app. See local/apps/_router/worker.js.",
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


def _stage_storage(work_dir: Path) -> Path:
    """Copy the storage worker next to the router (wrangler writes .wrangler/ beside each config)."""
    target = work_dir / "storage"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(STORAGE_DIR, target, ignore=_STAGE_IGNORE)
    return target / "wrangler.toml"


def deployed_view(spec: AppSpec) -> AppSpec:
    """Write the rendered file as a deployed Worker reads it, and return the spec that runs it.

    `wrangler dev` binds ``preview_id`` when an entry has one (wrangler's ``usePreviewIds: true``), but
    the local runtime stands in for the deployed app, which binds ``id``. So beside each rendered file
    it runs ``wrangler.deployed.json``: the same configuration, parsed from the rendered file, without
    the preview ids. Everything else — ids, other bindings, vars, environments — is what render wrote,
    plus :data:`VIEW_VAR` (see :func:`_view_text`). An unchanged view is not rewritten, so wrangler
    does not reload it.
    """
    return _write_view(spec, _deployed_view_text(spec))


def _deployed_view_text(spec: AppSpec) -> str:
    config = _read_wrangler_file(spec.config)
    for table in _tables(config):
        for entry in table.get("kv_namespaces") or []:
            entry.pop("preview_id", None)
    instrument_view(config, spec.config.parent, ROUTER_DIR / "count.js")  # real KV operation counts
    return _view_text(config)


def _tables(config: dict[str, Any]) -> list[dict[str, Any]]:
    envs = config.get("env") or {}
    return [config, *(table for table in envs.values() if isinstance(table, dict))]


def _view_text(config: dict[str, Any]) -> str:
    """``config`` as a view's file, carrying :data:`VIEW_VAR`.

    The var is a digest of the configuration, in every section's vars, and each app's ``/health``
    reports it: that is how :meth:`LocalRuntime.wait_ready` knows which view wrangler has loaded.
    """
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    for table in _tables(config):
        table["vars"] = {**(table.get("vars") or {}), VIEW_VAR: digest}
    return json.dumps(config, indent=2) + "\n"


def _view_is_written(spec: AppSpec, text: str) -> bool:
    try:
        return spec.deployed_config.read_text(encoding="utf-8") == text
    except OSError:
        return False


def _write_view(spec: AppSpec, text: str) -> AppSpec:
    if not _view_is_written(spec, text):
        atomic_write(spec.deployed_config, text, mode=0o644)
    return AppSpec(name=spec.name, config=spec.deployed_config, section=spec.section)


def section_table(config: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    """The table of a parsed wrangler file that ``section`` names (empty if the file has none)."""
    if section == names.WRANGLER_TOP_SECTION:
        return config
    table = (config.get("env") or {}).get(section.removeprefix("env."))
    return table if isinstance(table, Mapping) else {}


def _view_of(config: Path, section: str) -> str | None:
    """The :data:`VIEW_VAR` of the section of ``config`` that runs, or None for a file that is no view."""
    view = (section_table(_read_wrangler_file(config), section).get("vars") or {}).get(VIEW_VAR)
    return view if isinstance(view, str) else None


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
    seen: set[str] = set()
    for spec in apps:
        if not _ROUTE_RE.fullmatch(spec.name) or spec.name.startswith("__"):
            raise LocalCloudflareError(f"{spec.name!r} cannot be a route: use lowercase letters, digits, - and _")
        if spec.name in seen:
            raise LocalCloudflareError(f"app {spec.name} is listed twice")
        seen.add(spec.name)
    env = _env_of(apps)
    workers = {spec.name: worker_name(spec.config, env) for spec in apps}
    duplicates = {w for w in workers.values() if list(workers.values()).count(w) > 1}
    if duplicates:
        raise LocalCloudflareError(f"several apps are named {', '.join(sorted(duplicates))} in their wrangler files")

    work_dir = work_dir.resolve()
    configs: list[Path] = []
    storage_worker = None
    if storage:
        storage_config = _stage_storage(work_dir)
        configs.append(storage_config)
        storage_worker = worker_name(storage_config, env)
    router = _write_router(work_dir, apps, workers, env, storage_worker)
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


def app_url(port: int, app: str) -> str:
    """Where ``app`` answers in the runtime listening on ``port``: under its own path of the router."""
    return f"http://127.0.0.1:{port}/{app}"


def _wait_for_apps(
    runtime: LocalRuntime, wanted: Mapping[str, str | None], *, deadline: float, grace: float
) -> dict[str, str | None]:
    """Wait for every app's health; returns the apps still on another view than ``wanted`` after ``grace`` s."""
    stale: dict[str, str | None] = {}
    give_up_on_views = time.monotonic() + grace
    with loopback_client() as client:
        for app in runtime.apps.values():
            last = "no answer"
            while True:
                response = answer(client, f"{app.url}/health")
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
                        f"app {app.name} (worker {app.worker}) did not answer {app.url}/health: {last}\n{tail}",
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


def _is_wrangler_dev(pid: int) -> bool | None:
    """True if ``pid`` runs `wrangler dev`, False if it runs something else, None if it cannot be told."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False if Path("/proc/self").exists() else None
    except OSError:
        return None
    args = raw.decode(errors="replace").split("\0")
    return any(a.endswith("wrangler.js") for a in args) and "dev" in args


def _group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` still runs (zombies waiting for their parent do not count)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pgid, os.WNOHANG)  # reap it if it is our own child
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command: state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_runtime(pid: int, timeout: float = 10.0) -> bool:
    """Stop the runtime whose recorded pid is ``pid`` (wrangler, workerd: its whole process group).

    Works from any process, not only the one that started it: TERM to the group, KILL after ``timeout``.
    False if it was not running. A recorded pid that now belongs to another program (the runtime died
    and the pid was reused) is left alone and reported as not running.
    """
    if _is_wrangler_dev(pid) is False:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True
