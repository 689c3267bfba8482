"""A tiny fake Cloudflare v4 API on loopback, with scripted faults, for what the local Cloudflare cannot do.

Real HTTP on 127.0.0.1 (so the official SDK, httpx and the adapter's transport run unchanged), a
handful of routes, and a queue of faults applied to the next requests: ``429`` with a Retry-After,
``500``, a connection dropped before the response or in the middle of its body, empty list pages, a
virtual clock. It serves at most ``max_requests`` requests, so a retry loop gone wrong fails the test
instead of spinning. Limits and error codes are the local API's own (one table:
``kvstack.keyspace.limits`` and ``kvstack.local.api.envelope``), and tests/checks/test_fake.py holds
the fake to answering like the local API does.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from kvstack.local.api.limits import (
    BULK_GET_MAX,
    CODE_AUTH,
    CODE_BAD_EXPIRATION_TTL,
    CODE_BAD_LIMIT,
    CODE_INTERNAL,
    CODE_KEY_TOO_LONG,
    CODE_NAMESPACE_NOT_FOUND,
    CODE_NO_ROUTE,
    CODE_PROJECT_NOT_FOUND,
    CODE_RATE_LIMITED,
    CODE_SCRIPT_NOT_FOUND,
    CODE_TOKEN_INVALID,
    CODE_TOKEN_NOT_FOUND,
    CODE_TOO_MANY_ITEMS,
    LIST_LIMIT_MAX,
    LIST_LIMIT_MIN,
    MAX_KEY_BYTES,
    MIN_TTL,
)

ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "fake-admin-token-value-0123456789abcdef"

_NS = r"/client/v4/accounts/(?P<account>[^/]+)/storage/kv/namespaces"


@dataclass
class FakeNamespace:
    title: str
    keys: dict[str, tuple[str, float | None]] = field(default_factory=dict)


class VirtualClock:
    """Time that passes only when something sleeps: retries and rate limits without wall-clock waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class FakeCloudflare:
    def __init__(self, *, max_requests: int = 2000) -> None:
        self.namespaces: dict[str, FakeNamespace] = {}
        self.tokens: dict[str, dict[str, Any]] = {TOKEN: {"id": "a" * 32, "status": "active"}}
        self.token_details: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, dict[str, Any]] = {}
        self.faults: deque[str] = deque()
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.queries: list[dict[str, str]] = []  # the query string of each request, parsed
        self.bodies: list[bytes] = []
        self.page_size = LIST_LIMIT_MAX
        self.empty_pages_at: set[int] = set()
        self.max_requests = max_requests
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold: threading.Event | None = None
        # Random faults on every request: (probability of 429, of 500, of a dropped connection), seeded.
        self.fault_rates: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.retry_after = "1"
        self.rng = random.Random(0)
        # When set (Miniflare's explorer API of a running runtime), KV data lives there, not in memory.
        self.kv_upstream: str | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/client/v4"

    def __enter__(self) -> FakeCloudflare:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def put(self, namespace_id: str, key: str, value: str, expiration: float | None = None) -> None:
        self.namespaces[namespace_id].keys[key] = (value, expiration)

    def add_keys(self, namespace_id: str, count: int, *, prefix: str = "k", ttl: float | None = None) -> None:
        namespace = self.namespaces.setdefault(namespace_id, FakeNamespace(title=namespace_id))
        for n in range(count):
            namespace.keys[f"{prefix}{n:06d}"] = (f"value-{n}", ttl)

    def _random_fault(self) -> str | None:
        draw = self.rng.random()
        too_many, server, drop = self.fault_rates
        if draw < too_many:
            return f"429:{self.retry_after}"
        if draw < too_many + server:
            return "500"
        if draw < too_many + server + drop:
            return "drop"
        return None

    def paths(self) -> list[str]:
        return [path for _, path in self.requests]

    # -- the HTTP side --------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake._lock:
                    if len(fake.requests) >= fake.max_requests:
                        raise RuntimeError("fake Cloudflare: request budget of the test exhausted")
                    fake.requests.append((self.command, urlsplit(self.path).path))
                    fake.queries.append({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
                    fake.bodies.append(body)
                    fault = fake.faults.popleft() if fake.faults else fake._random_fault()
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    if fake.hold is not None:
                        fake.hold.wait(5)
                    self._respond(fault, body)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _respond(self, fault: str | None, body: bytes) -> None:
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault is not None and fault.startswith("429"):
                    _, _, retry_after = fault.partition(":")
                    headers = {"retry-after": retry_after} if retry_after else {}
                    self._json(
                        429,
                        _error(CODE_RATE_LIMITED, "Please wait and consider throttling your request speed"),
                        headers,
                    )
                    return
                if fault == "500":
                    self._json(500, _error(CODE_INTERNAL, "Internal error"))
                    return
                status, payload, headers = fake._route(self.command, self.path, self.headers, body)
                if fault == "drop-body":
                    data = json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 3])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._json(status, payload, headers)

            def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        return Handler

    def _route(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, Any, dict[str, str]]:
        url = urlsplit(raw_path)
        path = url.path
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        token = (headers.get("authorization") or "").removeprefix("Bearer ")
        if token not in self.tokens:
            return 401, _error(CODE_AUTH, "Authentication error"), {}
        if re.fullmatch(r"/client/v4/accounts/[^/]+/tokens/verify", path):
            return 200, _ok(self.tokens[token]), {}
        if path == "/client/v4/user/tokens/verify":
            return 401, _error(CODE_TOKEN_INVALID, "Invalid API Token"), {}  # every token here is account-owned
        details = re.fullmatch(r"/client/v4/accounts/[^/]+/tokens/(?P<id>[^/]+)", path)
        if details is not None and method == "GET":
            found = self.token_details.get(details["id"])
            return (200, _ok(found), {}) if found else (404, _error(CODE_TOKEN_NOT_FOUND, "token not found"), {})
        project = re.fullmatch(r"/client/v4/accounts/[^/]+/pages/projects/(?P<name>[^/]+)", path)
        if project is not None and method == "GET":
            found = self.pages.get(project["name"])
            return (200, _ok(found), {}) if found else (404, _error(CODE_PROJECT_NOT_FOUND, "project not found"), {})
        script = re.fullmatch(r"/client/v4/accounts/[^/]+/workers/scripts/(?P<name>[^/]+)/settings", path)
        if script is not None and method == "GET":
            found = self.scripts.get(script["name"])
            return (200, _ok(found), {}) if found else (404, _error(CODE_SCRIPT_NOT_FOUND, "script not found"), {})
        if method == "POST" and re.fullmatch(_NS, path):
            title = json.loads(body)["title"]
            namespace_id = f"{len(self.namespaces):032x}"
            self.namespaces[namespace_id] = FakeNamespace(title)
            return 200, _ok({"id": namespace_id, "title": title}), {}
        found = re.fullmatch(_NS + r"/(?P<ns>[^/]+)(?P<rest>/.*)?", path)
        if found is None:
            return 404, _error(CODE_NO_ROUTE, "No route for the URI"), {}
        namespace = self.namespaces.get(found["ns"])
        if namespace is None:
            return 404, _error(CODE_NAMESPACE_NOT_FOUND, "namespace not found"), {}
        rest = found["rest"] or ""
        if rest == "" and method == "GET":
            return 200, _ok({"id": found["ns"], "title": namespace.title}), {}
        refused = _refused(method, rest, query, body)
        if refused is not None:
            return refused
        if self.kv_upstream is not None:
            return self._forward_kv(method, found["ns"], rest, query, headers, body)
        if rest == "/keys" and method == "GET":
            return 200, self._list(namespace, query), {}
        if rest == "/bulk/get" and method == "POST":
            request = json.loads(body)
            values: dict[str, Any] = {}
            for key in request["keys"]:
                entry = namespace.keys.get(key)
                if entry is None:
                    values[key] = None
                elif request.get("withMetadata"):
                    values[key] = {"value": entry[0], "metadata": None, "expiration": entry[1]}
                else:
                    values[key] = entry[0]
            return 200, _ok({"values": values}), {}
        if rest == "/bulk/delete" and method == "POST":
            for key in json.loads(body):
                namespace.keys.pop(key, None)
            return 200, _ok({"successful_key_count": len(json.loads(body)), "unsuccessful_keys": []}), {}
        if rest.startswith("/values/"):
            key = unquote(rest[len("/values/") :])
            if method == "PUT":
                ttl = query.get("expiration_ttl")
                value = _multipart_value(headers.get("content-type") or "", body)
                namespace.keys[key] = (value, time.time() + float(ttl) if ttl else None)
                return 200, _ok(None), {}
            if method == "DELETE":
                namespace.keys.pop(key, None)
                return 200, _ok(None), {}
        return 404, _error(CODE_NO_ROUTE, "No route for the URI"), {}

    def _forward_kv(
        self, method: str, namespace_id: str, rest: str, query: dict[str, str], headers: Any, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """KV requests go to the runtime's explorer API, which lacks TTLs on single puts and bulk-get metadata."""
        import httpx

        base = f"{self.kv_upstream}/storage/kv/namespaces/{namespace_id}"
        with httpx.Client(timeout=30) as upstream:
            if rest.startswith("/values/") and method == "PUT":
                key = unquote(rest[len("/values/") :])
                value = _multipart_value(headers.get("content-type") or "", body)
                item: dict[str, Any] = {"key": key, "value": value}
                if "expiration_ttl" in query:
                    item["expiration_ttl"] = int(float(query["expiration_ttl"]))
                answer = upstream.put(f"{base}/bulk", json=[item])
                return answer.status_code, _ok(None) if answer.is_success else answer.json(), {}
            if rest == "/bulk/get" and json.loads(body).get("withMetadata"):
                keys = json.loads(body)["keys"]
                values = upstream.post(f"{base}/bulk/get", json={"keys": keys}).json()["result"]["values"]
                entries: dict[str, Any] = {}
                for key in keys:
                    listed = upstream.get(f"{base}/keys", params={"prefix": key}).json()["result"]
                    info = next((k for k in listed if k["name"] == key), {})
                    entries[key] = (
                        None
                        if values.get(key) is None
                        else {
                            "value": values[key],
                            "metadata": info.get("metadata"),
                            "expiration": info.get("expiration"),
                        }
                    )
                return 200, _ok({"values": entries}), {}
            answer = upstream.request(
                method,
                f"{base}{rest}",
                params=query,
                content=body or None,
                headers={"content-type": "application/json"} if body else None,
            )
            return answer.status_code, answer.json(), {}

    def _list(self, namespace: FakeNamespace, query: dict[str, str]) -> Any:
        names = sorted(namespace.keys)
        cursor = query.get("cursor", "")
        came_empty = cursor.startswith("empty-")
        offset = int(cursor.removeprefix("empty-") or 0)
        if offset in self.empty_pages_at and not came_empty:
            return {**_ok([]), "result_info": {"count": 0, "cursor": f"empty-{offset}"}}
        size = min(int(query.get("limit", 1000)), self.page_size)
        page = names[offset : offset + size]
        following = offset + size
        result = [{"name": n, **({"expiration": namespace.keys[n][1]} if namespace.keys[n][1] else {})} for n in page]
        return {
            **_ok(result),
            "result_info": {"count": len(page), "cursor": str(following) if following < len(names) else ""},
        }


def _refused(method: str, rest: str, query: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]] | None:
    """The local API's answer to a KV request breaking one of Cloudflare's limits, None if it breaks none."""
    if rest == "/keys" and method == "GET":
        limit = query.get("limit", str(LIST_LIMIT_MAX))
        if not limit.isdigit() or not LIST_LIMIT_MIN <= int(limit) <= LIST_LIMIT_MAX:
            return 400, _error(CODE_BAD_LIMIT, f"limit must be between {LIST_LIMIT_MIN} and {LIST_LIMIT_MAX}"), {}
    if rest == "/bulk/get" and method == "POST" and len(json.loads(body).get("keys") or []) > BULK_GET_MAX:
        return 400, _error(CODE_TOO_MANY_ITEMS, f"bulk get takes at most {BULK_GET_MAX} keys"), {}
    if rest.startswith("/values/"):
        key = unquote(rest[len("/values/") :])
        if len(key.encode()) > MAX_KEY_BYTES:
            return 414, _error(CODE_KEY_TOO_LONG, f"key is {len(key.encode())} bytes; the limit is {MAX_KEY_BYTES}"), {}
        ttl = query.get("expiration_ttl")
        if method == "PUT" and ttl is not None and (not ttl.isdigit() or int(ttl) < MIN_TTL):
            message = f"Invalid expiration_ttl of {ttl}. Expiration TTL must be at least {MIN_TTL}."
            return 400, _error(CODE_BAD_EXPIRATION_TTL, message), {}
    return None


def _multipart_value(content_type: str, body: bytes) -> str:
    """The ``value`` part of a multipart/form-data body (what the SDK sends for a single put)."""
    if "multipart/form-data" not in content_type:
        return body.decode()
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, _, data = part.partition(b"\r\n\r\n")
        if b'name="value"' in head:
            return data.removesuffix(b"\r\n").decode()
    return ""


def _ok(result: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result}


def _error(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
