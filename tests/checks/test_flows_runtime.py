"""The flows against the real reference apps on wrangler/Miniflare, KV observed through the API.

Until `kvstack local up` (and its API server) can be started here, the stand-in is: the reference apps in
one real `wrangler dev` (kvstack.local.runtime), and the fake Cloudflare as the API, whose KV routes go to
Miniflare's explorer API of that runtime (the same store the apps write). Everything the checks do is the
same as against `--local`: the apps over HTTP, KV through the official SDK.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from kvstack.catalog import load_catalog
from kvstack.local import apps as local_apps
from kvstack.local.apps import app_specs, local_dev_vars, write_dev_vars
from kvstack.local.runtime import LocalRuntime, start_runtime
from tests.fakecloudflare import TOKEN, FakeCloudflare

from .conftest import World, _build

pytestmark = [pytest.mark.runtime, pytest.mark.slow]

WINDOW = 15.0
FLOWS = {
    "test_chart_webhook_reaches_the_stream_and_kv[dubai-app-front]",
    "test_session_login_cache_and_logout[codex]",
    "test_login_rate_limit[codex]",
    "test_read_through_cache[codex]",
    "test_rest_cache_with_the_runtime_token[chatchonk-api]",
    "test_class_state_cache_aside_and_dedupe[pickmyclass]",
}


def _run_copy(
    world: World, dest: Path, *, drop: dict[str, str] | None = None, patch: tuple[str, str, str] | None = None
) -> Path:
    """The rendered apps as the runtime runs them: ids only (wrangler dev binds `preview_id` when both are
    present; docs/contracts.md), secrets in .dev.vars, and optionally one binding dropped per app."""
    shutil.copytree(world.root / "apps", dest)
    for file in [*dest.glob("*/wrangler.toml"), *dest.glob("*/wrangler.jsonc")]:
        text = re.sub(r'(?m)^\s*"?preview_id"?\s*[=:]\s*"[0-9a-f]{32}",?\s*\n', "", file.read_text())
        app = file.parent.name
        if drop and app in drop:
            binding = drop[app]
            entry = rf'\[\[env\.staging\.kv_namespaces\]\]\s*\nbinding = "{binding}"\s*\nid = "[0-9a-f]{{32}}"\s*\n'
            text, dropped = re.subn(entry, "", text)
            assert dropped == 1, f"could not drop {binding} from {file}"
        file.write_text(text)
        write_dev_vars(file.parent, local_dev_vars(app))
    if patch is not None:
        app, old, new = patch
        source = dest / app / "worker.js"
        assert old in source.read_text()
        source.write_text(source.read_text().replace(old, new))
    return dest


def _start(world: World, base: Path, *, patch: tuple[str, str, str] | None = None, **drop: str) -> LocalRuntime:
    catalog = load_catalog(world.root, "dev")
    apps = _run_copy(world, base / "run", drop=drop or None, patch=patch)
    return start_runtime(app_specs(catalog, apps), persist_to=base / "persist", log_dir=base, work_dir=base / "work")


def _point_at(world: World, runtime: LocalRuntime) -> None:
    world.fake.kv_upstream = runtime.explorer_url
    data = json.loads((world.root / "outputs.json").read_text())
    for name, app in runtime.apps.items():
        data["kvstack"]["apps"][name]["url"] = app.url
    (world.root / "outputs.json").write_text(json.dumps(data))


def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("KVSTACK_DUBAI_APP_FRONT_WEBHOOK_SECRET", local_apps.LOCAL_WEBHOOK_SECRET)
    monkeypatch.setenv("KVSTACK_CODEX_LOGIN_USER", local_apps.LOCAL_LOGIN_USER)
    monkeypatch.setenv("KVSTACK_CODEX_LOGIN_PASSWORD", local_apps.LOCAL_LOGIN_PASSWORD)
    monkeypatch.setenv("KVSTACK_CODEX_TRUSTED_CLIENT_HEADER", local_apps.TRUSTED_CLIENT_HEADER)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, LocalRuntime]]:
    base = tmp_path_factory.mktemp("live")
    with pytest.MonkeyPatch.context() as monkeypatch, FakeCloudflare(max_requests=20000) as fake:
        _secrets(monkeypatch)
        world = _build(base, fake)
        runtime = _start(world, base)
        try:
            _point_at(world, runtime)
            yield world, runtime
        finally:
            runtime.stop()
            for context in world.contexts:
                context.close()


def _smoke_keys_left(world: World, runtime: LocalRuntime) -> list[str]:
    left = []
    with httpx.Client(timeout=10) as client:
        for app in world.document["apps"].values():
            for ids in app["bindings"].values():
                for namespace_id in (ids["id"], ids["preview_id"]):
                    url = f"{runtime.explorer_url}/storage/kv/namespaces/{namespace_id}/keys"
                    left += [k["name"] for k in client.get(url).json()["result"] if "kvstack-smoke" in k["name"]]
    return left


def test_every_check_passes_on_the_healthy_apps_and_no_smoke_key_remains(live: tuple[World, LocalRuntime]) -> None:
    world, runtime = live
    outcome = world.run(consistency_window=WINDOW)
    results = {r.name: r for r in outcome.results.ordered()}
    assert world.failures(outcome) == {}
    assert {name for name, r in results.items() if r.kind == "flows" and r.outcome == "passed"} == FLOWS
    assert [r.name for r in results.values() if r.outcome == "skipped"] == []
    assert outcome.exit_code == 0
    report = world.last_report
    # chart, session, login counter, cache, REST, class, notification; each in a namespace and its preview twin
    assert report["smoke"]["keys_written"] == 14
    assert report["smoke"]["remaining"] == []
    assert _smoke_keys_left(world, runtime) == []
    assert report["spent"]["kv_writes"] >= 1, "the REST flow wrote with the runtime token"
    assert report["spent"]["kv_deletes"] >= report["smoke"]["keys_written"]


class _SilentStreamProxy:
    """dubai-app-front behind a proxy that forwards everything but never pushes a chart event on the stream:
    the webhook still stores (KV holds the message), the viewer sees only the snapshot."""

    def __init__(self, upstream: str) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path.startswith("/api/stream"):
                    session = self.path.split("sessionId=", 1)[1].split("&", 1)[0]
                    frame = f'event: snapshot\ndata: {{"sessionId": "{session}", "messages": []}}\n\n'.encode()
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("content-length", str(len(frame)))
                    self.end_headers()
                    self.wfile.write(frame)
                    return
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.request(self.command, proxy.upstream + self.path, content=body, headers=headers)
                self.send_response(answer.status_code)
                for name in ("content-type",):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.upstream = upstream
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_chart_app_that_stores_but_never_pushes_is_caught(live: tuple[World, LocalRuntime]) -> None:
    world, runtime = live
    proxy = _SilentStreamProxy(runtime.app("dubai-app-front").url)
    data = json.loads((world.root / "outputs.json").read_text())
    data["kvstack"]["apps"]["dubai-app-front"]["url"] = proxy.url
    (world.root / "outputs.json").write_text(json.dumps(data))
    try:
        outcome = world.run("flows", keyword="chart", consistency_window=3.0)
    finally:
        proxy.close()
        _point_at(world, runtime)
    failures = world.failures(outcome)
    [(name, message)] = failures.items()
    assert name == "test_chart_webhook_reaches_the_stream_and_kv[dubai-app-front]"
    assert "the SSE stream of session kvstack-smoke-" in message
    assert "expected it within 3 s; found only the events ['snapshot']" in message
    assert world.last_report["smoke"]["remaining"] == []
    assert _smoke_keys_left(world, runtime) == []


def test_app_whose_kv_binding_is_missing_is_caught(
    live: tuple[World, LocalRuntime], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, healthy = live
    # codex deployed from a wrangler file without CACHE_KV: its runtime, its Worker settings and its file say so.
    broken = _start(world, tmp_path, codex="CACHE_KV")
    settings = world.fake.scripts["codex-staging"]
    saved = list(settings["bindings"])
    settings["bindings"] = [b for b in saved if b.get("name") != "CACHE_KV"]
    rendered = world.root / "apps" / "codex" / "wrangler.toml"
    original = rendered.read_text()
    shutil.copy(tmp_path / "run" / "codex" / "wrangler.toml", rendered)
    _point_at(world, broken)
    try:
        outcome = world.run("bindings", "flows", apps=("codex",), consistency_window=3.0)
    finally:
        broken.stop()
        settings["bindings"] = saved
        rendered.write_text(original)
        _point_at(world, healthy)
    failures = world.failures(outcome)
    assert set(failures) == {
        "test_worker_settings_list_the_declared_bindings[codex env.staging]",
        "test_wrangler_file_matches_the_outputs[apps/codex/wrangler.toml]",
        "test_app_reports_its_bindings_available[codex]",
        "test_read_through_cache[codex]",
    }
    assert "found HTTP 503, missing bindings CACHE_KV" in failures["test_app_reports_its_bindings_available[codex]"]
    assert "CACHE_KV not available" in failures["test_read_through_cache[codex]"]
    assert "missing-binding" in failures["test_wrangler_file_matches_the_outputs[apps/codex/wrangler.toml]"]


def test_app_without_a_login_rate_limit_is_caught(live: tuple[World, LocalRuntime], tmp_path: Path) -> None:
    world, healthy = live
    lenient = _start(world, tmp_path, patch=("codex", "const RL_LIMIT = 5;", "const RL_LIMIT = 1000;"))
    _point_at(world, lenient)
    try:
        outcome = world.run("flows", keyword="rate_limit", consistency_window=3.0)
    finally:
        lenient.stop()
        _point_at(world, healthy)
    failures = world.failures(outcome)
    assert list(failures) == ["test_login_rate_limit[codex]"]
    assert (
        "the 6th failed login from one client answering 429: not seen within 3 s"
        in failures["test_login_rate_limit[codex]"]
    )
    assert "HTTP 401" in failures["test_login_rate_limit[codex]"]
