"""Flows: the apps of the stack, driven end to end with smoke data, and KV observed doing its part.

Contract of every flow: it writes only keys whose placeholders hold ``kvstack-smoke-<run>-…`` ids,
registers each before the write so the run deletes it even when the flow fails, and never reads once:
KV is eventually consistent, so it polls with backoff up to the consistency window (default 60 s).
The app contracts (routes, bodies, keys) are those of docs/contracts.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from checks.resources import FlowApp, poll
from kvstack.cloudflare import KvEntry
from kvstack.keyspace import SMOKE_MARKER, check_fresh_ttl, check_value, is_smoke_id

# The TTL the flows ask for where they choose it (the KV minimum): smoke data expires on its own.
SMOKE_TTL = 60
# Slack for clocks and KV's whole-second expirations when comparing a TTL with the one asked for.
TTL_TOLERANCE = 5


def _need_url(app: FlowApp) -> str:
    if app.url is None and app.no_runtime is not None:
        pytest.skip(f"{app.label}: the local Cloudflare runs nothing for {app.app} ({app.no_runtime})")
    if app.url is None:
        pytest.skip(f"{app.label}: no URL for {app.app} in the outputs (`kvstack:apps.{app.app}.url`)")
    return app.url


def _answer(response: httpx.Response) -> str:
    text = response.text
    return f"HTTP {response.status_code} {text[:300]!r}"


def _expect(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    assert response.status_code == status, (
        f"{what}: {response.request.method} {response.request.url}: expected HTTP {status}; found {_answer(response)}"
    )
    body = response.json()
    return body if isinstance(body, dict) else {"body": body}


def _conforms(
    app: FlowApp, binding: str, key: str, entry: KvEntry | None, *, asked: tuple[float, float] | None = None
) -> None:
    """The stored value fits its keyspace pattern and its TTL policy, and the TTL the flow asked for.

    ``asked`` is (TTL asked for, time.time() when asked): the remaining TTL must be neither longer than
    asked (an app keeping data longer than told) nor shorter than what is left of it (one cutting it).
    """
    where = f"{app.label}: key {key!r} of {app.app}.{binding}"
    assert entry is not None, f"{where}: expected it in KV; found no such key"
    keyspace = app.keyspaces[binding]
    match = keyspace.match(key)
    assert match is not None, f"{where}: expected a key of keyspace {keyspace.name}; it matches none of its patterns"
    assert match.ok, (
        f"{where}: expected a key like {match.pattern.key.text}; {'; '.join(match.placeholders.problems())}"
    )
    problems = [str(f) for f in check_value(match.pattern, key, entry.value)]
    assert not problems, f"{where}: expected a value of pattern {match.pattern.name}; found " + "; ".join(problems)
    remaining = app.remaining_ttl(entry)
    ttl_problem = check_fresh_ttl(match.pattern.ttl, remaining)
    assert ttl_problem is None, f"{where}: {ttl_problem}"
    if asked is not None:
        ttl, at = asked
        low = ttl - (time.time() - at)
        expected = f"expected the TTL asked for, {ttl:g} s ({max(low, 0):.0f}–{ttl:g} s left now)"
        assert remaining is not None, f"{where}: {expected}; found none"
        assert low - TTL_TOLERANCE <= remaining <= ttl + TTL_TOLERANCE, f"{where}: {expected}; found {remaining:.0f} s"


def _present(entry: KvEntry | None) -> bool:
    return entry is not None


def _absent(entry: KvEntry | None) -> bool:
    return entry is None


# -- chart: signed webhook → SSE stream pushes it → KV holds it -------------------------------------------


class _Stream:
    """An SSE stream read on a thread, its events queued."""

    def __init__(self, client: httpx.Client, path: str, params: dict[str, str]) -> None:
        self.events: queue.Queue[ServerSentEvent | BaseException] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(client, path, params), daemon=True)
        self._thread.start()

    def _read(self, client: httpx.Client, path: str, params: dict[str, str]) -> None:
        try:
            with connect_sse(client, "GET", path, params=params, timeout=httpx.Timeout(10.0, read=None)) as source:
                source.response.raise_for_status()
                for event in source.iter_sse():
                    self.events.put(event)
        except BaseException as exc:  # handed to the waiting flow, which says what happened
            self.events.put(exc)

    def wait_for(self, what: str, wanted: Any, window: float) -> ServerSentEvent:
        try:
            while True:
                item = self.events.get(timeout=window)
                if isinstance(item, BaseException):
                    raise AssertionError(f"{what}: the stream ended with {type(item).__name__}: {item}")
                self.seen.append(item.event)
                if wanted(item):
                    return item
        except queue.Empty:
            raise AssertionError(
                f"{what}: expected it within {window:g} s; found only the events {self.seen or 'none'}"
            ) from None


def test_chart_webhook_reaches_the_stream_and_kv(chart_app: FlowApp) -> None:
    app = chart_app
    _need_url(app)
    secret = app.secrets.webhook_secret
    if not secret:
        pytest.skip(f"{app.label}: no webhook secret (set KVSTACK_{app.app.upper().replace('-', '_')}_WEBHOOK_SECRET)")
    session = app.smoke("chart")
    message_id = app.smoke("msg")
    key = app.will_write("CHART_KV", f"charts:session:{session}")
    window = app.window
    with app.client() as http:
        stream = _Stream(http, "/api/stream", {"sessionId": session, "timeout": str(int(min(window + 10, 300)))})
        stream.wait_for(f"{app.label}: the stream's snapshot event", lambda e: e.event == "snapshot", window)
        body = json.dumps({"sessionId": session, "id": message_id, "chart": {"type": "line", "points": [1, 2, 3]}})
        signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        posted = http.post(
            "/api/webhook",
            content=body,
            headers={"content-type": "application/json", "x-webhook-signature": f"sha256={signature}"},
        )
        _expect(posted, 201, f"{app.label}: the signed webhook")
        event = stream.wait_for(
            f"{app.label}: the SSE stream of session {session} pushing chart message {message_id}",
            lambda e: e.event == "chart" and json.loads(e.data).get("id") == message_id,
            window,
        )
        assert json.loads(event.data)["chart"]["type"] == "line", f"{app.label}: the pushed chart is not the posted one"
    entry = app.wait_for_entry(
        "CHART_KV", key, lambda e: e is not None and message_id in e.value, "the chart message held by KV"
    )
    _conforms(app, "CHART_KV", key, entry)


# -- session: login, cached session with TTL, logout; login rate limit -----------------------------------


def _smoke_login(app: FlowApp) -> tuple[str, str]:
    user, password = app.secrets.login_user, app.secrets.login_password
    if not user or not password:
        pytest.skip(f"{app.label}: no login credentials (LOGIN_USER / LOGIN_PASSWORD of the app)")
    if not user.startswith(SMOKE_MARKER):
        pytest.skip(
            f"{app.label}: the login user must start with {SMOKE_MARKER!r} so that its session key carries the marker"
        )
    return user, password


def _client_headers(app: FlowApp, client_id: str) -> dict[str, str]:
    header = app.secrets.trusted_client_header
    return {header: client_id} if header else {}


def test_session_login_cache_and_logout(session_app: FlowApp) -> None:
    app = session_app
    _need_url(app)
    user, password = _smoke_login(app)
    with app.client() as http:
        login = http.post(
            "/api/login",
            json={"username": user, "password": password},
            headers=_client_headers(app, app.smoke("login")),
        )
        token = str(_expect(login, 201, f"{app.label}: login of the smoke user").get("token", ""))
        key = app.will_write("AUTH_SESSION_KV", f"session:{token}")
        assert is_smoke_id(token), f"{app.label}: expected a session token carrying {SMOKE_MARKER!r}; found another"
        entry = app.wait_for_entry("AUTH_SESSION_KV", key, _present, "the session cached in KV")
        _conforms(app, "AUTH_SESSION_KV", key, entry)
        bearer = {"authorization": f"Bearer {token}"}
        poll(
            f"{app.label}: GET /api/session with the new session answering 200",
            lambda: http.get("/api/session", headers=bearer),
            lambda r: r.status_code == 200 and r.json().get("user") == user,
            window=app.window,
            describe=_answer,
        )
        _expect(http.post("/api/logout", headers=bearer), 200, f"{app.label}: logout")
        app.wait_for_entry("AUTH_SESSION_KV", key, _absent, "the session deleted from KV by logout")
        poll(
            f"{app.label}: GET /api/session after logout answering 401",
            lambda: http.get("/api/session", headers=bearer),
            lambda r: r.status_code == 401,
            window=app.window,
            describe=_answer,
        )


def test_login_rate_limit(session_app: FlowApp) -> None:
    app = session_app
    _need_url(app)
    user, _ = _smoke_login(app)
    if not app.secrets.trusted_client_header:
        pytest.skip(
            f"{app.label}: the app names no trusted client header, so failed logins would count against the "
            "checker's own IP (a key that is not smoke data)"
        )
    client_id = app.smoke("rl")
    key = app.will_write("AUTH_SESSION_KV", f"rl:login:{client_id}")
    headers = _client_headers(app, client_id)
    wrong = {"username": user, "password": "kvstack-smoke-wrong-password"}
    with app.client() as http:
        answers = [http.post("/api/login", json=wrong, headers=headers) for _ in range(5)]
        statuses = [a.status_code for a in answers]
        assert statuses == [401] * 5, f"{app.label}: expected 5 failed logins to answer 401; found {statuses}"
        limited = poll(
            f"{app.label}: the 6th failed login from one client answering 429",
            lambda: http.post("/api/login", json=wrong, headers=headers),
            lambda r: r.status_code == 429,
            window=app.window,
            describe=_answer,
        )
    retry_after = limited.headers.get("retry-after")
    assert retry_after is not None, f"{app.label}: expected a Retry-After header on the 429; found none"
    assert 0 < int(retry_after) <= 900, f"{app.label}: expected a Retry-After of 1–900 s; found {retry_after!r}"
    entry = app.wait_for_entry("AUTH_SESSION_KV", key, _present, "the login attempt counter in KV")
    _conforms(app, "AUTH_SESSION_KV", key, entry)


# -- read-through cache: miss, hit, TTL, invalidation ---------------------------------------------------


def test_read_through_cache(cache_app: FlowApp) -> None:
    app = cache_app
    _need_url(app)
    feature, item = SMOKE_MARKER, f"{app.run_id}-cache"
    key = app.will_write("CACHE_KV", f"cache:{feature}:{item}")
    path = f"/api/cache/{feature}/{item}"
    digest = hashlib.sha256(f"{feature}:{item}".encode()).hexdigest()
    with app.client() as http:
        asked = (SMOKE_TTL, time.time())
        miss = http.get(path, params={"ttl": str(SMOKE_TTL)})
        first = _expect(miss, 200, f"{app.label}: the first read of {key!r}")
        assert miss.headers.get("x-cache") == "miss", (
            f"{app.label}: expected x-cache 'miss' on the first read; found {miss.headers.get('x-cache')!r}"
        )
        assert first.get("value") == {"digest": digest}, f"{app.label}: expected the computed value; found {first}"
        hit = poll(
            f"{app.label}: a second read of {key!r} served from KV (x-cache hit)",
            lambda: http.get(path, params={"ttl": str(SMOKE_TTL)}),
            lambda r: r.status_code == 200 and r.headers.get("x-cache") == "hit",
            window=app.window,
            describe=lambda r: f"{_answer(r)} x-cache={r.headers.get('x-cache')!r}",
        )
        assert hit.json() == first, f"{app.label}: expected the hit to return the cached entry; found {hit.json()}"
        entry = app.wait_for_entry("CACHE_KV", key, _present, "the cache entry in KV")
        _conforms(app, "CACHE_KV", key, entry, asked=asked)
        _expect(http.delete(path), 200, f"{app.label}: invalidating {key!r}")
        app.wait_for_entry("CACHE_KV", key, _absent, "the cache entry gone from KV after invalidation")
        again = http.get(path, params={"ttl": str(SMOKE_TTL)})
        assert again.headers.get("x-cache") == "miss", (
            f"{app.label}: expected a miss after invalidation; found x-cache {again.headers.get('x-cache')!r}"
        )


# -- REST cache with the runtime token: put, get, delete ------------------------------------------------


def test_rest_cache_with_the_runtime_token(rest_cache_app: FlowApp) -> None:
    app = rest_cache_app
    if not app.runtime_token:
        pytest.fail(f"{app.label}: expected the runtime token's value in the outputs; found none")
    runtime = app.api.with_token(app.runtime_token)
    binding = next(iter(app.namespaces))
    namespace = app.namespaces[binding]
    key = app.will_write(binding, f"prefs:{app.smoke('rest')}")
    value = json.dumps({"theme": "dark", "source": SMOKE_MARKER, "run": app.run_id})
    asked = (SMOKE_TTL, time.time())
    runtime.put_value(namespace, key, value, ttl=SMOKE_TTL)
    entry = poll(
        f"{app.label}: the value put with the runtime token read back with it (key {key!r})",
        lambda: runtime.get_entry(namespace, key),
        lambda e: e is not None and e.value == value,
        window=app.window,
    )
    _conforms(app, binding, key, entry, asked=asked)
    runtime.delete_keys(namespace, [key])
    poll(
        f"{app.label}: the key deleted with the runtime token gone (key {key!r})",
        lambda: runtime.get_entry(namespace, key),
        _absent,
        window=app.window,
    )


# -- class state: cache-aside read, notification dedupe -------------------------------------------------


def test_class_state_cache_aside_and_dedupe(class_state_app: FlowApp) -> None:
    app = class_state_app
    _need_url(app)
    class_nbr = app.smoke("class")
    key = app.will_write("KV", f"class_state:{class_nbr}")
    with app.client() as http:
        miss = http.get(f"/api/classes/{class_nbr}")
        state = _expect(miss, 200, f"{app.label}: the first read of class {class_nbr}")
        assert miss.headers.get("x-cache") == "miss", (
            f"{app.label}: expected x-cache 'miss' on the first read; found {miss.headers.get('x-cache')!r}"
        )
        hit = poll(
            f"{app.label}: a second read of class {class_nbr} served from KV (x-cache hit)",
            lambda: http.get(f"/api/classes/{class_nbr}"),
            lambda r: r.status_code == 200 and r.headers.get("x-cache") == "hit",
            window=app.window,
            describe=lambda r: f"{_answer(r)} x-cache={r.headers.get('x-cache')!r}",
        )
        assert hit.json() == state, f"{app.label}: expected the hit to return the cached state; found {hit.json()}"
        entry = app.wait_for_entry("KV", key, _present, "the class state in KV")
        _conforms(app, "KV", key, entry)

        watch = app.smoke("watch")
        notif_key = app.will_write("KV", f"notif:{watch}:seat-open")
        body = {"watch_id": watch, "type": "seat-open", "class_nbr": class_nbr}
        _expect(http.post("/api/notifications", json=body), 201, f"{app.label}: the first notification")
        poll(
            f"{app.label}: the same notification again answered as a duplicate",
            lambda: http.post("/api/notifications", json=body),
            lambda r: r.status_code == 200 and r.json().get("status") == "duplicate",
            window=app.window,
            describe=_answer,
        )
        entry = app.wait_for_entry("KV", notif_key, _present, "the notification record in KV")
        _conforms(app, "KV", notif_key, entry)
