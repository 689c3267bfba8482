"""The local API and its storage `wrangler dev`, run from this process on loopback: for tests and benches.

`kvstack local up` runs the same server (``server_config``) as a process of its own; here uvicorn runs in
a thread, so a caller can reach the ASGI app (its knobs, its store) while real clients talk HTTP to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from kvstack.errors import LocalCloudflareError
from kvstack.local.api.app import KnobsMiddleware, asgi_app, server_config
from kvstack.local.api.context import Settings
from kvstack.local.wrangler import WranglerProcess, free_port, start_wrangler_dev
from kvstack.workers import STORAGE_DIR

__all__ = ["ServedApi", "serve_api"]


@dataclass(frozen=True)
class ServedApi:
    url: str  # http://127.0.0.1:<port>, without /client/v4
    token: str  # the bootstrap token (every permission)
    storage: WranglerProcess
    app: KnobsMiddleware


@contextmanager
def serve_api(folder: Path, account_id: str, *, start_timeout: float = 30.0) -> Iterator[ServedApi]:
    """A storage `wrangler dev` persisting into ``folder/storage`` and the API (state in ``folder/api``)."""
    storage = start_wrangler_dev(
        STORAGE_DIR / "wrangler.toml", name="storage", persist_to=folder / "storage", log_file=folder / "storage.log"
    )
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        app = asgi_app(Settings(state=folder / "api", account_id=account_id, storage_url=storage.url))
        port = free_port()
        server = uvicorn.Server(server_config(app, port, log_level="critical"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise LocalCloudflareError(f"the local API did not start on port {port} within {start_timeout:.0f} s")
            time.sleep(0.05)
        token = (folder / "api" / "bootstrap-token").read_text().strip()
        yield ServedApi(url=f"http://127.0.0.1:{port}", token=token, storage=storage, app=app)
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=10)
        storage.stop()
