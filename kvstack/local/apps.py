"""The apps the local runtime runs: their specs and sections, staging their folders, their local secrets.

Layout the runtime expects: ``<tree>/<folder of the app's wrangler file>/<wrangler file>`` (what
:func:`restage` prepares and ``kvstack render`` then fills in), with an optional ``.dev.vars`` beside it
(:func:`write_dev_vars`). A reference app's folder holds a copy of the package's ``workers/apps/<app>/``
and of the modules the reference apps share (:func:`stage_reference_app`); which app runs what is ``runs.py``'s
decision.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kvstack import names
from kvstack.catalog import App
from kvstack.errors import LocalCloudflareError
from kvstack.local.kvcount import COUNTER_FILE, ENTRY_FILE
from kvstack.local.pages import PagesProject
from kvstack.local.views import DEPLOYED_CONFIG, PROBE_FILE
from kvstack.workers import REFERENCE_APPS_DIR, SHARED_APP_MODULES
from kvstack.wranglerfile import section_env

__all__ = [
    "KEPT_ON_STAGING",
    "LOCAL_LOGIN_PASSWORD",
    "LOCAL_LOGIN_USER",
    "LOCAL_WEBHOOK_SECRET",
    "STAGE_IGNORE",
    "TRUSTED_CLIENT_HEADER",
    "AppSpec",
    "local_dev_vars",
    "restage",
    "run_section",
    "stage_reference_app",
    "stage_reference_apps",
    "write_dev_vars",
]

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

# What is never copied from the package: wrangler's caches, installed modules, local secrets.
STAGE_IGNORE = shutil.ignore_patterns(".wrangler", "node_modules", ".dev.vars*", ".env*")
# What staging keeps of an app's folder: its secrets, the last deployed view and the files that view runs.
KEPT_ON_STAGING: Final = (".dev.vars", DEPLOYED_CONFIG, ENTRY_FILE, COUNTER_FILE, PROBE_FILE)


@dataclass(frozen=True)
class AppSpec:
    """One app to run: its route name, its rendered wrangler file and the section of it to run."""

    name: str
    config: Path
    section: str = names.WRANGLER_TOP_SECTION
    # The folder of the app's own wrangler file when it runs its own code there (kvstack.local.runs), else None.
    source: Path | None = None
    # The project of a Pages app whose own Functions run (built into its folder by kvstack.local.pages), else None.
    pages: PagesProject | None = None

    @property
    def deployed_config(self) -> Path:
        """Where this app's deployed view (:func:`kvstack.local.views.deployed_view`) is written."""
        return self.config.with_name(DEPLOYED_CONFIG)

    @property
    def env(self) -> str | None:
        """The wrangler ``--env`` this section means, or None for the top level."""
        return section_env(self.section)


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


def stage_reference_apps(dest: Path, apps: Iterable[str] | None = None) -> dict[str, Path]:
    """Copy the reference apps (the package's ``workers/apps/<app>/``) to ``dest/<app>/``; returns each folder.

    The copies carry placeholder namespace ids until ``kvstack render`` writes the real ones into them.
    An existing copy is replaced, except what :func:`restage` keeps.
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
        stage_reference_app(dest / name, name)
        staged[name] = dest / name
    return staged


def stage_reference_app(folder: Path, app: str) -> None:
    """:func:`restage` ``folder`` with reference app ``app``, and the modules it imports from ``./_shared/``."""
    restage(folder, REFERENCE_APPS_DIR / app)
    shutil.copytree(SHARED_APP_MODULES, folder / SHARED_APP_MODULES.name, ignore=STAGE_IGNORE)


def restage(folder: Path, source: Path | None) -> None:
    """Empty ``folder`` but for :data:`KEPT_ON_STAGING` (bytes and times kept), then copy ``source`` into it.

    What is kept is the deployed view the app ran last and the files it runs, so wrangler can start on it
    again while `kvstack local up` applies the stack; its ``.dev.vars`` too.
    """
    kept = {
        name: ((folder / name).read_bytes(), (folder / name).stat())
        for name in KEPT_ON_STAGING
        if (folder / name).is_file()
    }
    if folder.exists():
        shutil.rmtree(folder)
    if source is None:
        folder.mkdir(parents=True)
    else:
        shutil.copytree(source, folder, ignore=STAGE_IGNORE)
    for name, (content, status) in kept.items():
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, status.st_mode & 0o777)
        with os.fdopen(fd, "wb") as stream:
            stream.write(content)
        os.utime(folder / name, ns=(status.st_atime_ns, status.st_mtime_ns))


def local_dev_vars(app: str) -> dict[str, str]:
    """The documented local secrets and settings of a reference app (empty for apps that need none)."""
    return dict(_LOCAL_DEV_VARS.get(app, {}))


def write_dev_vars(app_dir: Path, values: Mapping[str, str]) -> Path:
    """Write ``values`` as ``<app_dir>/.dev.vars`` (mode 0600), where wrangler dev reads the app's secrets.

    .dev.vars is read per config file, so it reaches every worker of the multi-config process; ``--var``
    would reach only the primary (the router). :func:`kvstack.wranglerfile.read_dev_vars` reads it back.
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
