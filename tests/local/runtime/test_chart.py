"""dubai-app-front, the chart flow: signed webhook -> CHART_KV (newest 50) -> SSE stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.local.runtime.conftest import Stack, namespace_id, sign, smoke_id

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]

APP = "dubai-app-front"
CHART_NS = namespace_id(APP, "CHART_KV")
WEBHOOK_NS = namespace_id(APP, "WEBHOOK_KV")


@pytest.fixture(scope="module")
def app(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client(APP) as client:
        yield client


def post_chart(client: httpx.Client, payload: dict[str, Any], signature: str | None = None) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", "x-webhook-signature": signature or sign(body)}
    return client.post("/api/webhook", content=body, headers=headers)


def test_health_lists_both_bindings_present(app: httpx.Client) -> None:
    response = app.get("/health")
    assert response.status_code == 200, response.text
    health = response.json()
    assert isinstance(health.pop("view"), str), health  # the deployed view's digest, as under `local up`
    assert health == {
        "app": APP,
        "ok": True,
        "environment": None,
        "bindings": {"CHART_KV": True, "WEBHOOK_KV": True},
        "required": ["CHART_KV"],
        "missing": [],
        "config": {"WEBHOOK_SECRET": True},
    }


def test_signed_webhook_stores_the_message_under_the_session_key(app: httpx.Client, stack: Stack) -> None:
    session = smoke_id("chart")
    response = post_chart(app, {"sessionId": session, "id": "m1", "chart": {"type": "line", "points": [1, 2]}})
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer == {
        "ok": True,
        "duplicate": False,
        "sessionId": session,
        "id": "m1",
        "receivedAt": answer["receivedAt"],
        "count": 1,
    }
    stored = stack.explorer.json(CHART_NS, f"charts:session:{session}")
    assert stored == [{"id": "m1", "receivedAt": answer["receivedAt"], "chart": {"type": "line", "points": [1, 2]}}]
    assert app.get("/api/charts", params={"sessionId": session}).json() == {"sessionId": session, "messages": stored}


def test_chart_key_expires_after_the_declared_ttl(app: httpx.Client, stack: Stack) -> None:
    session = smoke_id("ttl")
    assert post_chart(app, {"sessionId": session, "chart": {"type": "bar"}}).status_code == 201
    entry = stack.explorer.key(CHART_NS, f"charts:session:{session}")
    received = stack.explorer.json(CHART_NS, f"charts:session:{session}")[0]["receivedAt"]
    received_epoch = int(datetime.fromisoformat(received).timestamp())
    assert 604800 <= entry["expiration"] - received_epoch <= 604802, entry


def test_webhook_with_a_wrong_secret_is_refused_and_stores_nothing(app: httpx.Client, stack: Stack) -> None:
    session = smoke_id("forged")
    payload = {"sessionId": session, "chart": {"type": "line"}}
    body = json.dumps(payload).encode()
    response = post_chart(app, payload, signature=sign(body, secret="not-the-secret"))
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid signature"}
    assert stack.explorer.get(CHART_NS, f"charts:session:{session}").status_code == 404


@pytest.mark.parametrize("signature", ["", "sha256=", "md5=abc", "sha256=" + "0" * 64])
def test_webhook_without_a_valid_signature_header_is_refused(app: httpx.Client, signature: str) -> None:
    body = json.dumps({"sessionId": smoke_id(), "chart": {"type": "line"}}).encode()
    headers = {"content-type": "application/json"}
    if signature:
        headers["x-webhook-signature"] = signature
    response = app.post("/api/webhook", content=body, headers=headers)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"chart": {"type": "line"}}, "sessionId"),
        ({"sessionId": "has space", "chart": {"type": "line"}}, "sessionId"),
        ({"sessionId": "kvstack-smoke-x", "chart": {"points": []}}, "chart"),
        ({"sessionId": "kvstack-smoke-x", "chart": "line"}, "chart"),
        ({"sessionId": "kvstack-smoke-x", "id": "bad id", "chart": {"type": "line"}}, "id"),
    ],
)
def test_webhook_with_an_invalid_body_is_a_400(app: httpx.Client, payload: dict[str, Any], error: str) -> None:
    response = post_chart(app, payload)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(error)


def test_session_keeps_the_newest_50_messages_oldest_first(app: httpx.Client, stack: Stack) -> None:
    session = smoke_id("cap")
    for i in range(55):
        response = post_chart(app, {"sessionId": session, "id": f"m{i:02d}", "chart": {"type": "line", "n": i}})
        assert response.status_code == 201, response.text
    assert response.json()["count"] == 50
    stored = stack.explorer.json(CHART_NS, f"charts:session:{session}")
    assert [m["id"] for m in stored] == [f"m{i:02d}" for i in range(5, 55)]
    assert [m["chart"]["n"] for m in stored] == list(range(5, 55))


def test_redelivery_of_the_same_id_is_not_stored_twice(app: httpx.Client, stack: Stack) -> None:
    session = smoke_id("dup")
    first = post_chart(app, {"sessionId": session, "id": "same", "chart": {"type": "pie"}})
    again = post_chart(app, {"sessionId": session, "id": "same", "chart": {"type": "pie"}})
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["receivedAt"] == first.json()["receivedAt"]
    assert len(stack.explorer.json(CHART_NS, f"charts:session:{session}")) == 1


def test_webhook_records_the_last_deliveries_in_webhook_kv(app: httpx.Client, stack: Stack) -> None:
    session = "viewer-log"
    answer = post_chart(app, {"sessionId": session, "id": "logged", "chart": {"type": "line"}}).json()
    log = stack.explorer.json(WEBHOOK_NS, "webhook:messages")
    assert log[-1] == {"id": "logged", "sessionId": session, "receivedAt": answer["receivedAt"]}
    assert len(log) <= 50


def test_webhook_keeps_smoke_deliveries_out_of_the_shared_log(app: httpx.Client, stack: Stack) -> None:
    session = smoke_id("unlogged")
    assert post_chart(app, {"sessionId": session, "id": "smoke", "chart": {"type": "line"}}).status_code == 201
    stored = stack.explorer.get(WEBHOOK_NS, "webhook:messages")
    log = stored.json() if stored.status_code == 200 else []
    assert [entry for entry in log if entry["sessionId"] == session] == []


def test_sse_stream_pushes_a_chart_posted_after_it_opened(app: httpx.Client) -> None:
    session = smoke_id("sse")
    earlier = post_chart(app, {"sessionId": session, "id": "before", "chart": {"type": "line"}}).json()
    with (
        httpx.Client(base_url=str(app.base_url), timeout=60) as viewer,
        connect_sse(viewer, "GET", "/api/stream", params={"sessionId": session, "timeout": "30"}) as source,
    ):
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = source.iter_sse()
        snapshot = next(events)
        assert snapshot.event == "snapshot"
        assert [m["id"] for m in snapshot.json()["messages"]] == ["before"]
        assert snapshot.json()["messages"][0]["receivedAt"] == earlier["receivedAt"]

        pushed = post_chart(app, {"sessionId": session, "id": "live", "chart": {"type": "candles", "v": 7}})
        assert pushed.status_code == 201, pushed.text
        event = next(events)
        assert event.event == "chart", f"expected the pushed chart, got {event.event}: {event.data}"
        assert event.id == "live"
        assert event.json() == {
            "id": "live",
            "receivedAt": pushed.json()["receivedAt"],
            "chart": {"type": "candles", "v": 7},
        }


def test_sse_stream_ends_by_itself_with_an_end_event(app: httpx.Client) -> None:
    session = smoke_id("end")
    # A stream that never ended would stall between keepalives (10 s): the 5 s read timeout fails it.
    with (
        httpx.Client(base_url=str(app.base_url), timeout=httpx.Timeout(30, read=5)) as viewer,
        connect_sse(viewer, "GET", "/api/stream", params={"sessionId": session, "timeout": "1"}) as source,
    ):
        kinds = [event.event for event in source.iter_sse()]
    assert kinds == ["snapshot", "end"]


@pytest.mark.parametrize("path", ["/api/stream", "/api/charts"])
def test_reading_routes_refuse_a_missing_session_id(app: httpx.Client, path: str) -> None:
    response = app.get(path)
    assert response.status_code == 400, response.text
    assert "sessionId" in response.json()["error"]


def test_unknown_route_and_wrong_method_are_json_errors(app: httpx.Client) -> None:
    assert app.get("/nope").status_code == 404
    response = app.get("/api/webhook")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
