"""Start the local Upstash database: valkey-server, then the REST front, each leading its own process group."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kvstack import names
from kvstack.errors import LocalCloudflareError
from kvstack.local.loopback import loopback_client
from kvstack.local.state import ProcessRecord
from kvstack.local.upstash.server import Tokens, ensure_tokens, server_command
from kvstack.local.wrangler import free_port, stop_process

__all__ = ["UpstashEndpoint", "start_upstash"]

STARTUP_SECONDS = 30.0
# What identifies our processes in /proc/<pid>/cmdline before `down` stops a recorded pid.
PROCESS_MARKERS = ("valkey-server", "kvstack.local.upstash")


@dataclass(frozen=True)
class UpstashEndpoint:
    """The running local Upstash: its REST URL, its token files, and the processes behind it."""

    rest_url: str
    tokens: Tokens
    processes: tuple[ProcessRecord, ...]

    def status(self) -> dict[str, str]:
        """What `kvstack local status --json` shows: the URL and the token files (never the tokens)."""
        return {
            "rest_url": self.rest_url,
            "token_file": str(self.tokens.read_write_file),
            "read_only_token_file": str(self.tokens.read_only_file),
        }

    def secret_config(self, stores: Iterable[str]) -> dict[str, str]:
        """The stack config secrets ``pulumi config set --secret`` would hold for ``stores``, pointing here."""
        values = {"rest_url": self.rest_url, "token": self.tokens.read_write, "read_only_token": self.tokens.read_only}
        return {names.store_secret_key(store, field): values[field] for store in stores for field in values}


def start_upstash(
    folder: Path,
    logs: Path,
    *,
    latency_ms: int = 0,
    faults: str | None = None,
    seed: int = 0,
    port: int | None = None,
) -> UpstashEndpoint:
    """valkey-server on a free loopback port with its data in ``folder/data``, and the REST front before it."""
    tokens = ensure_tokens(folder)
    redis_port = free_port()
    started: list[ProcessRecord] = []
    try:
        started.append(_spawn("redis", server_command(folder, tokens, redis_port), redis_port, logs / "redis.log"))
        _wait_for_redis(redis_port, started[0], logs / "redis.log")
        front_port = port or free_port()
        command = [
            sys.executable,
            "-m",
            "kvstack.local.upstash",
            "--state",
            str(folder),
            "--port",
            str(front_port),
            "--redis-port",
            str(redis_port),
            "--latency-ms",
            str(latency_ms),
            "--seed",
            str(seed),
            *(["--faults", faults] if faults else []),
        ]
        started.append(_spawn("upstash", command, front_port, logs / "upstash.log"))
        _wait_for_front(started[1], tokens, logs / "upstash.log")
    except BaseException:
        for record in reversed(started):
            stop_process(record.pid)
        raise
    return UpstashEndpoint(rest_url=started[1].url, tokens=tokens, processes=tuple(started))


def _spawn(name: str, command: list[str], port: int, log: Path) -> ProcessRecord:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as stream:
        process = subprocess.Popen(
            command, stdout=stream, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}" if name == "upstash" else f"redis://127.0.0.1:{port}"
    return ProcessRecord(name=name, role=name, pid=process.pid, port=port, url=url, log=str(log))


def _exited(record: ProcessRecord) -> bool:
    return not Path(f"/proc/{record.pid}").exists() or "zombie" in _state(record.pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "gone"


def _fail(record: ProcessRecord, log: Path, what: str) -> LocalCloudflareError:
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.is_file() else ""
    return LocalCloudflareError(f"the local Upstash {record.name} {what}:\n{tail}", hint=f"see {log}")


def _wait_for_redis(port: int, record: ProcessRecord, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if _exited(record):
            raise _fail(record, log, "exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                # The default user is off: a listening server answers NOAUTH, enough to know it is up (the
                # front's own readiness probe then waits out a LOADING server).
                if sock.recv(64)[:1] in (b"+", b"-"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise _fail(record, log, f"did not answer within {STARTUP_SECONDS:g} s")


def _wait_for_front(record: ProcessRecord, tokens: Tokens, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + STARTUP_SECONDS
    with loopback_client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if _exited(record):
                raise _fail(record, log, "exited")
            try:
                response = client.post(
                    record.url, json=["PING"], headers={"Authorization": f"Bearer {tokens.read_write}"}
                )
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise _fail(record, log, f"did not answer within {STARTUP_SECONDS:g} s")
