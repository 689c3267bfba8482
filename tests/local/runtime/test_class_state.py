"""pickmyclass, the class-state flow: cache-aside class_state:<n>, notification dedupe, the cron."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.local.runtime.conftest import Stack, namespace_id, smoke_id

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]

APP = "pickmyclass"
NS = namespace_id(APP, "KV")


@pytest.fixture(scope="module")
def app(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client(APP) as client:
        yield client


def upstream(class_nbr: str) -> dict[str, Any]:
    """What the worker's fake upstream answers for ``class_nbr``, except fetched_at and source."""
    digest = hashlib.sha256(f"class:{class_nbr}".encode()).digest()
    status = ["open", "closed", "waitlist"][digest[0] % 3]
    seats = 1 + digest[1] % 30 if status == "open" else 0
    return {"class_nbr": class_nbr, "title": f"Class {class_nbr}", "status": status, "seats_available": seats}


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def test_health_lists_the_kv_binding(app: httpx.Client) -> None:
    response = app.get("/health")
    assert response.status_code == 200, response.text
    assert response.json()["bindings"] == {"KV": True}


@pytest.mark.parametrize("class_nbr", ["12345", "kvstack-smoke-class-1"])
def test_class_state_miss_fetches_stores_for_an_hour_then_hits(app: httpx.Client, stack: Stack, class_nbr: str) -> None:
    miss = app.get(f"/api/classes/{class_nbr}")
    assert miss.status_code == 200, miss.text
    assert miss.headers["x-cache"] == "miss"
    state = miss.json()
    assert {k: state[k] for k in ("class_nbr", "title", "status", "seats_available")} == upstream(class_nbr)
    assert state["source"] == "request"
    assert stack.explorer.json(NS, f"class_state:{class_nbr}") == state
    expiration = stack.explorer.key(NS, f"class_state:{class_nbr}")["expiration"]
    assert 3600 <= expiration - epoch(state["fetched_at"]) <= 3602

    hit = app.get(f"/api/classes/{class_nbr}")
    assert hit.headers["x-cache"] == "hit"
    assert hit.json() == state


def test_scheduled_run_refreshes_cached_class_states(app: httpx.Client, stack: Stack) -> None:
    class_nbr = smoke_id("class")
    assert app.get(f"/api/classes/{class_nbr}").json()["source"] == "request"
    result = stack.runtime.trigger_scheduled(APP, cron="*/15 * * * *")
    assert result == {"outcome": "ok", "noRetry": False}
    refreshed = stack.explorer.json(NS, f"class_state:{class_nbr}")
    assert refreshed["source"] == "cron"
    assert {k: refreshed[k] for k in ("class_nbr", "title", "status", "seats_available")} == upstream(class_nbr)
    assert app.get(f"/api/classes/{class_nbr}").headers["x-cache"] == "hit"


def test_first_notification_is_sent_and_a_repeat_is_a_duplicate(app: httpx.Client, stack: Stack) -> None:
    watch = smoke_id("watch")
    payload = {"watch_id": watch, "type": "seat-open", "class_nbr": "12345"}
    first = app.post("/api/notifications", json=payload)
    assert first.status_code == 201, first.text
    sent = first.json()
    assert sent["status"] == "sent"
    assert sent["key"] == f"notif:{watch}:seat-open"
    assert sent["notification"] == {
        "watch_id": watch,
        "type": "seat-open",
        "class_nbr": "12345",
        "sent_at": sent["notification"]["sent_at"],
    }
    assert stack.explorer.json(NS, f"notif:{watch}:seat-open") == sent["notification"]
    expiration = stack.explorer.key(NS, f"notif:{watch}:seat-open")["expiration"]
    assert 86400 <= expiration - epoch(sent["notification"]["sent_at"]) <= 86402

    again = app.post("/api/notifications", json=payload)
    assert again.status_code == 200, again.text
    assert again.json() == {"status": "duplicate", "key": sent["key"], "notification": sent["notification"]}


def test_another_notification_type_is_not_a_duplicate(app: httpx.Client) -> None:
    watch = smoke_id("watch")
    assert app.post("/api/notifications", json={"watch_id": watch, "type": "seat-open"}).status_code == 201
    second = app.post("/api/notifications", json={"watch_id": watch, "type": "class-closed"})
    assert second.status_code == 201, second.text
    assert second.json()["notification"]["class_nbr"] is None


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "seat-open"},
        {"watch_id": "w 1", "type": "seat-open"},
        {"watch_id": "w1", "type": "Seat Open"},
        {"watch_id": "w1", "type": "seat-open", "class_nbr": 12345},
    ],
)
def test_invalid_notifications_are_a_400(app: httpx.Client, payload: dict[str, Any]) -> None:
    response = app.post("/api/notifications", json=payload)
    assert response.status_code == 400, response.text


def test_invalid_class_number_is_a_400(app: httpx.Client) -> None:
    assert app.get("/api/classes/a%20b").status_code == 400
