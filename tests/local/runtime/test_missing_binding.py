"""An app whose wrangler file lacks a binding runs, says so on /health and answers a clear error."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from functools import partial

import pytest

from kvstack.local.apps import LOCAL_LOGIN_PASSWORD, LOCAL_LOGIN_USER, LOCAL_WEBHOOK_SECRET, TRUSTED_CLIENT_HEADER
from tests.local.runtime.conftest import Explorer, Stack, drop_binding, smoke_id, start_stack

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]


@pytest.fixture(scope="module")
def unbound(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """dubai-app-front without CHART_KV, pickmyclass without KV, codex (staging) without CACHE_KV."""
    tweaks = {
        "dubai-app-front": partial(drop_binding, binding="CHART_KV"),
        "pickmyclass": partial(drop_binding, binding="KV"),
        "codex": partial(drop_binding, binding="CACHE_KV"),
    }
    runtime = start_stack(tmp_path_factory.mktemp("unbound"), tweaks)
    explorer = Explorer(runtime)
    try:
        yield Stack(runtime, explorer)
    finally:
        explorer.client.close()
        runtime.stop()


@pytest.mark.parametrize(
    ("app", "missing", "bindings"),
    [
        ("dubai-app-front", ["CHART_KV"], {"CHART_KV": False, "WEBHOOK_KV": True}),
        ("pickmyclass", ["KV"], {"KV": False}),
        ("codex", ["CACHE_KV"], {"AUTH_SESSION_KV": True, "CACHE_KV": False}),
    ],
)
def test_health_names_the_missing_binding(
    unbound: Stack, app: str, missing: list[str], bindings: dict[str, bool]
) -> None:
    with unbound.client(app) as client:
        response = client.get("/health")
    assert response.status_code == 503, response.text
    body = response.json()
    assert (body["ok"], body["missing"], body["bindings"]) == (False, missing, bindings)


def test_chart_webhook_without_chart_kv_is_a_503_saying_so(unbound: Stack) -> None:
    body = json.dumps({"sessionId": smoke_id(), "chart": {"type": "line"}}).encode()
    signature = "sha256=" + hmac.new(LOCAL_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    with unbound.client("dubai-app-front") as client:
        response = client.post("/api/webhook", content=body, headers={"x-webhook-signature": signature})
        stream = client.get("/api/stream", params={"sessionId": smoke_id()})
    assert response.status_code == 503, response.text
    assert response.json() == {"error": "CHART_KV not available"}
    assert stream.status_code == 503
    assert stream.json() == {"error": "CHART_KV not available"}


def test_class_state_without_kv_is_a_503_and_the_cron_fails(unbound: Stack) -> None:
    with unbound.client("pickmyclass") as client:
        response = client.get("/api/classes/12345")
        notif = client.post("/api/notifications", json={"watch_id": "w1", "type": "seat-open"})
    assert response.status_code == 503
    assert response.json() == {"error": "KV not available"}
    assert notif.json() == {"error": "KV not available"}
    assert unbound.runtime.trigger_scheduled("pickmyclass")["outcome"] != "ok"


def test_codex_cache_without_cache_kv_is_a_503_while_login_still_works(unbound: Stack) -> None:
    with unbound.client("codex") as client:
        cache = client.get("/api/cache/reports/k1")
        login = client.post(
            "/api/login",
            json={"username": LOCAL_LOGIN_USER, "password": LOCAL_LOGIN_PASSWORD},
            headers={TRUSTED_CLIENT_HEADER: smoke_id("ip")},
        )
    assert cache.status_code == 503
    assert cache.json() == {"error": "CACHE_KV not available"}
    assert login.status_code == 201, login.text
