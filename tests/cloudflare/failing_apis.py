"""Cloudflare APIs that fail on loopback, for fail-fast: one answering every request with one error, one that
never answers, and a port where nothing listens.

Each server handles a bounded number of requests (or connections) in its own loop and stops by itself when it
has served them, when its lifetime is over, or when its ``with`` block ends, so a client gone wrong can never
keep a test or a bench waiting. Both count what they saw: the requests a client made is a number to assert.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

__all__ = ["ErrorApi", "SilentApi", "unused_port_url"]

# How often a serving loop looks whether it should stop.
_POLL = 0.05


def _api_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/client/v4"


def unused_port_url() -> str:
    """An API URL on 127.0.0.1 where nothing listens (a port bound, then released): connection refused."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return _api_url(port)


class _BoundedLoop:
    """A serving loop in a thread that ends after ``max_served`` items, ``lifetime`` seconds, or :meth:`stop`."""

    def __init__(self, max_served: int, lifetime: float) -> None:
        self.max_served = max_served
        self.lifetime = lifetime
        self.served = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        ends = time.monotonic() + self.lifetime
        while not self._stopping.is_set() and self.served < self.max_served and time.monotonic() < ends:
            self.serve_one()

    def serve_one(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)


class ErrorApi(_BoundedLoop):
    """Answers every request with HTTP ``status`` and Cloudflare's error ``code`` (default: 401, 10000).

    One request per connection (HTTP/1.0), served one at a time; ``requests`` lists (method, path).
    """

    def __init__(
        self,
        status: int = 401,
        code: int = 10000,
        message: str = "Authentication error",
        *,
        max_requests: int = 200,
        lifetime: float = 120.0,
    ) -> None:
        super().__init__(max_requests, lifetime)
        self.requests: list[tuple[str, str]] = []
        body = json.dumps({"success": False, "errors": [{"code": code, "message": message}], "messages": []})
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                api.requests.append((self.command, self.path))
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                payload = body.encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self._server.timeout = _POLL
        self.base_url = _api_url(int(self._server.server_address[1]))

    def serve_one(self) -> None:
        before = len(self.requests)
        self._server.handle_request()  # one connection, or nothing within _POLL
        self.served += len(self.requests) - before

    def __enter__(self) -> ErrorApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._server.server_close()


class SilentApi(_BoundedLoop):
    """Accepts connections and never answers a byte; ``connections`` counts them. Closes them all at the end."""

    def __init__(self, *, max_connections: int = 200, lifetime: float = 120.0) -> None:
        super().__init__(max_connections, lifetime)
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(_POLL)
        self._held: list[socket.socket] = []
        self.base_url = _api_url(int(self._listener.getsockname()[1]))

    @property
    def connections(self) -> int:
        return self.served

    def serve_one(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except TimeoutError:
            return
        self._held.append(connection)
        self.served += 1

    def __enter__(self) -> SilentApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        for connection in self._held:
            connection.close()
        self._listener.close()
