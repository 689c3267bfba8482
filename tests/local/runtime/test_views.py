"""Deployed views: the file the runtime runs beside each rendered one, and how `wait_ready` knows it is loaded.

`kvstack local up` starts wrangler on one view per app (the last one, or a pending one without KV
bindings) and rewrites the views once the stack is rendered; `LocalRuntime.wait_ready` returns only
when every app reports, in its /health, the view its file now holds.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from kvstack.errors import LocalCloudflareError
from kvstack.local import runtime as runtime_module
from kvstack.local.runtime import (
    VIEW_VAR,
    AppSpec,
    deployed_view,
    launch_runtime,
    local_dev_vars,
    pending_view,
    stage_reference_apps,
    stop_runtime,
    write_dev_vars,
)
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
    assert {entry["binding"] for entry in entries} == {"AUTH_SESSION_KV", "CACHE_KV"}
    assert all("preview_id" not in entry for entry in entries), entries
    assert {entry["id"] for entry in entries} >= {namespace_id("codex", "CACHE_KV")}
    first = view_of(view)
    assert len(first) == 16

    written = view.config.stat().st_mtime_ns
    assert view_of(deployed_view(codex)) == first
    assert view.config.stat().st_mtime_ns == written, "an unchanged view was rewritten (wrangler would reload it)"

    codex.config.write_text(text.replace(namespace_id("codex", "CACHE_KV"), "f" * 32))
    assert view_of(deployed_view(codex)) != first


def test_pending_view_binds_no_namespace(tmp_path: Path) -> None:
    for spec in staged_specs(tmp_path):
        pending = pending_view(spec)
        assert all("kv_namespaces" not in section for section in sections(pending)), spec.name
        assert view_of(pending) != view_of(deployed_view(spec))


def test_wait_ready_returns_once_every_app_runs_the_rewritten_view(tmp_path: Path) -> None:
    specs = staged_specs(tmp_path)
    pending = [pending_view(spec) for spec in specs]
    runtime = launch_runtime(
        pending, persist_to=tmp_path / "storage", log_dir=tmp_path / "logs", work_dir=tmp_path / "work"
    )
    launched = runtime.pid
    try:
        runtime.wait_ready()  # on the pending views: the apps run without KV bindings
        for spec in pending:
            health = httpx.get(f"{runtime.app(spec.name).url}/health", timeout=10).json()
            assert (health["view"], health["ok"]) == (view_of(spec), False), spec.name
        views = {spec.name: view_of(deployed_view(spec)) for spec in specs}
        runtime.wait_ready()
        for app, view in views.items():
            health = httpx.get(f"{runtime.app(app).url}/health", timeout=10).json()
            assert (health["view"], health["missing"]) == (view, []), app
        assert runtime.pid == launched, "the runtime was restarted instead of reloaded"
    finally:
        runtime.stop()


def test_a_view_wrangler_never_loads_restarts_the_runtime_once_then_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "_RELOAD_GRACE", 1.0)
    specs = staged_specs(tmp_path)
    runtime = launch_runtime(
        [deployed_view(spec) for spec in specs],
        persist_to=tmp_path / "storage",
        log_dir=tmp_path / "logs",
        work_dir=tmp_path / "work",
    )
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
