"""How fast `kvstack check` gives up on an API it cannot use: unreachable, rejecting the token, or hanging.

    python bench/failfast_bench.py [--timeout 30]

Runs the real `kvstack check --stack dev` (every check kind, the dev stack's outputs from `kvstack plan
--json`) in a temporary copy of the project against three APIs on loopback, and prints the wall time and
exit code of each:

1. unreachable: a closed port (connection refused);
2. rejecting: a tiny server answering every request 401 with Cloudflare's code 10000;
3. hanging: a socket that accepts connections and never answers (bounded by ``--timeout``, the run deadline).

Goal: exit 2 in ≤ 30 s for each, with a message naming the URL and the token variable (before fail-fast,
an unreachable API cost ~30 s per check, ~26 minutes for a full run). Not a test: numbers depend on the
machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class _Rejecting(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = json.dumps(
            {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": []}
        ).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def rejecting_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Rejecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/client/v4"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def hanging_api() -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)  # connections complete in the kernel's backlog and are never answered
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/client/v4"
    finally:
        listener.close()


@contextmanager
def unreachable_api() -> Iterator[str]:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    yield f"http://127.0.0.1:{port}/client/v4"


def project(folder: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, folder / name)
    for name in ("keyspaces", "apps"):
        shutil.copytree(ROOT / name, folder / name)
    plan = subprocess.run(
        [sys.executable, "-m", "kvstack", "plan", "--stack", "dev", "--json", "--root", str(folder)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (folder / "outputs.json").write_text(plan.stdout)
    return folder


def run_check(root: Path, api_url: str, timeout: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KVSTACK_", "CLOUDFLARE_"))}
    env |= {"CLOUDFLARE_API_TOKEN": "bench-token-not-a-secret", "KVSTACK_API_URL": api_url}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kvstack", "check", "--stack", "dev", "--root", str(root),
         "--outputs", str(root / "outputs.json"), "--timeout", str(timeout)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    error = next((line for line in result.stderr.splitlines() if line.startswith("error:")), "")
    return {"seconds": round(seconds, 2), "exit": result.returncode, "error": error[:240]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=30.0, help="the run deadline given to kvstack check")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kvstack-failfast-") as tmp:
        root = project(Path(tmp))
        for name, api in (("unreachable", unreachable_api), ("rejecting", rejecting_api), ("hanging", hanging_api)):
            with api() as url:
                outcome = run_check(root, url, args.timeout)
            print(f"{name:12} exit {outcome['exit']}  {outcome['seconds']:6.2f} s  {outcome['error']}")


if __name__ == "__main__":
    main()
