"""Deployed views: the file the runtime runs beside each rendered one, and how `wait_ready` knows it is loaded.

`kvstack local up` starts wrangler on the views the apps ran last time and rewrites those that change
once the stack is rendered (`LocalRuntime.load_views`); `LocalRuntime.wait_ready` returns only when
every app reports, in its /health, the view its file now holds.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from kvstack.errors import LocalCloudflareError
from kvstack.local import runtime as runtime_module
from kvstack.local.apps import AppSpec, local_dev_vars, stage_reference_apps, write_dev_vars
from kvstack.local.kvcount import USAGE_BINDING
from kvstack.local.runtime import LocalRuntime, launch_runtime
from kvstack.local.views import VIEW_VAR, deployed_view
from kvstack.local.wrangler import stop_runtime
from tests.local.runtime.conftest import DEV_APPS, fake_render, namespace_id

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]


def staged_specs(base: Path) -> list[AppSpec]:
    staged = stage_reference_apps(base / "apps", DEV_APPS)
    specs = []
    for app, (file_name, section) in DEV_APPS.items():
        fake_render(app, staged[app] / file_name)
        write_dev_vars(staged[app], local_dev_vars(app))
        specs.append(AppSpec(app, staged[app] / file_name, section))
    return specs


def sections(spec: AppSpec) -> list[dict[str, Any]]:
    config: dict[str, Any] = json.loads(spec.config.read_text())
    return [config, *config.get("env", {}).values()]


def view_of(spec: AppSpec) -> str:
    (view,) = {section["vars"][VIEW_VAR] for section in sections(spec)}
    return str(view)


def test_deployed_view_has_no_preview_id_and_names_itself(tmp_path: Path) -> None:
    (codex,) = [s for s in staged_specs(tmp_path) if s.name == "codex"]
    text = codex.config.read_text().replace(
        f'id = "{namespace_id("codex", "CACHE_KV")}"',
        f'id = "{namespace_id("codex", "CACHE_KV")}"\npreview_id = "{"e" * 32}"',
    )
    codex.config.write_text(text)
    view = deployed_view(codex)
    assert view.config == codex.deployed_config
    entries = [entry for section in sections(view) for entry in section.get("kv_namespaces", [])]
    # the app's bindings, and the counter's own (kvstack/local/kvcount.py)
    assert {entry["binding"] for entry in entries} == {"AUTH_SESSION_KV", "CACHE_KV", USAGE_BINDING}
    assert all("preview_id" not in entry for entry in entries), entries
    assert {entry["id"] for entry in entries} >= {namespace_id("codex", "CACHE_KV")}
    first = view_of(view)
    assert len(first) == 16

    written = view.config.stat().st_mtime_ns
    assert view_of(deployed_view(codex)) == first
    assert view.config.stat().st_mtime_ns == written, "an unchanged view was rewritten (wrangler would reload it)"

    codex.config.write_text(text.replace(namespace_id("codex", "CACHE_KV"), "f" * 32))
    assert view_of(deployed_view(codex)) != first


def other_view(spec: AppSpec) -> AppSpec:
    """The app's deployed view as if an earlier `up` had bound other namespace ids; the rendered file stays."""
    rendered = spec.config.read_text()
    spec.config.write_text(re.sub(r'"[0-9a-f]{32}"', lambda found: found.group(0)[::-1], rendered))
    try:
        return deployed_view(spec)
    finally:
        spec.config.write_text(rendered)


def launch_on(views: list[AppSpec], base: Path) -> LocalRuntime:
    return launch_runtime(views, persist_to=base / "storage", log_dir=base / "logs", work_dir=base / "work")


def test_wait_ready_returns_once_every_app_runs_the_rewritten_view(tmp_path: Path) -> None:
    specs = staged_specs(tmp_path)
    others = [other_view(spec) for spec in specs]
    runtime = launch_on(others, tmp_path)
    launched = runtime.pid
    try:
        runtime.wait_ready()  # on the other views
        before = {spec.name: view_of(spec) for spec in others}
        for spec in others:
            health = httpx.get(f"{runtime.app(spec.name).url}/health", timeout=10).json()
            assert health["view"] == before[spec.name], spec.name
        views = {spec.name: view_of(deployed_view(spec)) for spec in specs}
        assert all(views[app] != view for app, view in before.items()), "nothing to reload"
        runtime.wait_ready()
        for app, view in views.items():
            health = httpx.get(f"{runtime.app(app).url}/health", timeout=10).json()
            assert (health["view"], health["missing"]) == (view, []), app
        assert runtime.pid == launched, "the runtime was restarted instead of reloaded"
    finally:
        runtime.stop()


def router_answers(runtime: LocalRuntime, *, timeout: float = 5) -> bool:
    """True if the router answers; a reload in progress may hold the answer back for seconds on a busy machine."""
    try:
        httpx.get(f"{runtime.url}/__kvstack/apps", timeout=timeout)
    except httpx.TransportError:
        return False
    return True


def test_load_views_writes_a_changed_view_only_once_wrangler_answers(tmp_path: Path) -> None:
    specs = staged_specs(tmp_path)
    runtime = launch_on([other_view(spec) for spec in specs], tmp_path)
    launched = runtime.pid
    try:
        runtime.load_views(specs)
        assert router_answers(runtime, timeout=60), "a changed view was written while wrangler was still starting"
        runtime.wait_ready()
        for spec in specs:
            health = httpx.get(f"{runtime.app(spec.name).url}/health", timeout=10).json()
            assert (health["view"], health["missing"]) == (view_of(deployed_view(spec)), []), spec.name
        assert runtime.pid == launched, "the runtime was restarted instead of reloaded"
    finally:
        runtime.stop()


def test_load_views_waits_for_nothing_when_no_view_changes(tmp_path: Path) -> None:
    specs = staged_specs(tmp_path)
    views = [deployed_view(spec) for spec in specs]
    written = [view.config.stat().st_mtime_ns for view in views]
    runtime = launch_on(views, tmp_path)
    try:
        runtime.load_views(specs)
        # wrangler needs a second or more to start: returning before it answers means no wait happened.
        assert not router_answers(runtime), "load_views waited for wrangler although no view changed"
        assert [view.config.stat().st_mtime_ns for view in views] == written, "an unchanged view was rewritten"
        runtime.wait_ready()
    finally:
        runtime.stop()


def test_a_view_wrangler_never_loads_restarts_the_runtime_once_then_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "_RELOAD_GRACE", 1.0)
    specs = staged_specs(tmp_path)
    runtime = launch_on([deployed_view(spec) for spec in specs], tmp_path)
    # codex's record now names a view that wrangler does not run (another file, another digest).
    elsewhere = dataclasses.replace(specs[-1], config=tmp_path / "elsewhere" / "wrangler.toml")
    elsewhere.config.parent.mkdir()
    elsewhere.config.write_text(specs[-1].config.read_text().replace('"staging"', '"elsewhere"'))
    never_loaded = deployed_view(elsewhere)
    runtime.apps["codex"] = dataclasses.replace(runtime.apps["codex"], config=never_loaded.config)
    relaunches = []
    relaunch = runtime.relaunch
    assert relaunch is not None

    def counted() -> Any:
        relaunches.append(1)
        return relaunch()

    runtime.relaunch = counted
    try:
        with pytest.raises(LocalCloudflareError, match=r"did not load the rewritten configuration: codex runs view"):
            runtime.wait_ready()
        assert relaunches == [1]
        assert not stop_runtime(runtime.pid), "a runtime that failed to become ready was left running"
    finally:
        runtime.stop()
