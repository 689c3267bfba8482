"""codex, the session flow: login -> session:<token> with a TTL, the login rate limit, logout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from kvstack.local.apps import LOCAL_LOGIN_PASSWORD, LOCAL_LOGIN_USER, TRUSTED_CLIENT_HEADER
from tests.local.runtime.conftest import Stack, namespace_id, smoke_id

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]

APP = "codex"
SESSION_NS = namespace_id(APP, "AUTH_SESSION_KV")
GOOD = {"username": LOCAL_LOGIN_USER, "password": LOCAL_LOGIN_PASSWORD}
BAD = {"username": LOCAL_LOGIN_USER, "password": "wrong"}


@pytest.fixture(scope="module")
def app(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client(APP) as client:
        yield client


def login(app: httpx.Client, credentials: dict[str, str], client_id: str | None = None) -> httpx.Response:
    return app.post("/api/login", json=credentials, headers={TRUSTED_CLIENT_HEADER: client_id or smoke_id("ip")})


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def test_health_reports_the_staging_environment_and_both_bindings(app: httpx.Client) -> None:
    body = app.get("/health").json()
    assert body["app"] == APP
    assert body["ok"] is True
    assert body["environment"] == "staging"
    assert body["bindings"] == {"AUTH_SESSION_KV": True, "CACHE_KV": True}
    assert body["config"] == {"LOGIN_USER": True, "LOGIN_PASSWORD": True, "TRUSTED_CLIENT_HEADER": True}


def test_login_stores_the_session_with_its_ttl(app: httpx.Client, stack: Stack) -> None:
    response = login(app, GOOD)
    assert response.status_code == 201, response.text
    answer = response.json()
    token = answer["token"]
    # The local test user is a smoke user: its session keys carry the marker.
    assert token.startswith("kvstack-smoke-")
    assert len(token) == len("kvstack-smoke-") + 64
    stored = stack.explorer.json(SESSION_NS, f"session:{token}")
    assert stored == {"user": LOCAL_LOGIN_USER, "created_at": answer["created_at"], "expires_at": answer["expires_at"]}
    assert epoch(answer["expires_at"]) - epoch(answer["created_at"]) == 3600
    expiration = stack.explorer.key(SESSION_NS, f"session:{token}")["expiration"]
    assert 0 <= expiration - epoch(answer["expires_at"]) <= 2


def test_session_route_answers_for_a_live_token_only(app: httpx.Client) -> None:
    token = login(app, GOOD).json()["token"]
    live = app.get("/api/session", headers={"authorization": f"Bearer {token}"})
    assert live.status_code == 200, live.text
    assert live.json()["user"] == LOCAL_LOGIN_USER
    unknown = app.get("/api/session", headers={"authorization": "Bearer " + "0" * 64})
    assert unknown.status_code == 401
    assert app.get("/api/session").status_code == 401


def test_logout_deletes_the_session(app: httpx.Client, stack: Stack) -> None:
    token = login(app, GOOD).json()["token"]
    headers = {"authorization": f"Bearer {token}"}
    assert stack.explorer.get(SESSION_NS, f"session:{token}").status_code == 200
    response = app.post("/api/logout", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "deleted": True}
    assert stack.explorer.get(SESSION_NS, f"session:{token}").status_code == 404
    assert app.get("/api/session", headers=headers).status_code == 401
    assert app.post("/api/logout", headers=headers).json() == {"ok": True, "deleted": False}


def test_logout_without_a_bearer_token_is_a_401(app: httpx.Client) -> None:
    assert app.post("/api/logout").status_code == 401
    assert app.post("/api/logout", headers={"authorization": "Bearer not-a-token"}).status_code == 401


def test_sixth_failed_login_from_one_client_is_rate_limited(app: httpx.Client, stack: Stack) -> None:
    client_id = smoke_id("rl")
    for attempt in range(1, 6):
        response = login(app, BAD, client_id)
        assert response.status_code == 401, f"attempt {attempt}: {response.text}"
        assert response.json() == {"error": "invalid credentials", "attempts_left": 5 - attempt}
    sixth = login(app, BAD, client_id)
    assert sixth.status_code == 429, sixth.text
    assert sixth.json()["error"] == "too many failed logins"
    assert 1 <= int(sixth.headers["retry-after"]) <= 900
    # Once limited, even the right password waits for the window to end.
    assert login(app, GOOD, client_id).status_code == 429
    assert stack.explorer.json(SESSION_NS, f"rl:login:{client_id}") == 5
    entry = stack.explorer.key(SESSION_NS, f"rl:login:{client_id}")
    assert entry["metadata"]["reset_at"] - 2 <= entry["expiration"] <= entry["metadata"]["reset_at"] + 2


def test_the_limit_is_per_client(app: httpx.Client) -> None:
    limited = smoke_id("rl")
    for _ in range(6):
        login(app, BAD, limited)
    assert login(app, BAD, limited).status_code == 429
    assert login(app, GOOD, smoke_id("rl")).status_code == 201


def test_a_failed_login_counts_but_a_malformed_body_does_not(app: httpx.Client, stack: Stack) -> None:
    client_id = smoke_id("rl")
    assert login(app, {"username": LOCAL_LOGIN_USER}, client_id).status_code == 400
    assert stack.explorer.get(SESSION_NS, f"rl:login:{client_id}").status_code == 404
    assert login(app, BAD, client_id).status_code == 401
    assert stack.explorer.json(SESSION_NS, f"rl:login:{client_id}") == 1


def test_an_invalid_client_header_is_a_400(app: httpx.Client) -> None:
    response = app.post("/api/login", json=GOOD, headers={TRUSTED_CLIENT_HEADER: "a b"})
    assert response.status_code == 400, response.text
