"""One `kvstack local up|down|reset` at a time per project: an exclusive lock on ``.kvstack/local/``.

The lock is ``flock`` on ``.kvstack/local/lock``: the kernel drops it when its holder exits, however it
exits, so a crashed `up` never leaves the folder locked. The file says who holds it, for the message the
second command prints (exit 2) instead of racing the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from kvstack.errors import LocalCloudflareError

__all__ = ["exclusive"]


@contextlib.contextmanager
def exclusive(folder: Path, command: str) -> Iterator[None]:
    """Hold the lock of ``folder`` while the block runs; a LocalCloudflareError (exit 2) if another holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _held(path, command) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": command, "since": time.time()}).encode())
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # `reset` deleted the folder, lock file included
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _held(path: Path, command: str) -> LocalCloudflareError:
    holder: dict[str, object] = {}
    with contextlib.suppress(OSError, ValueError):
        holder = json.loads(path.read_text(encoding="utf-8"))
    running = str(holder.get("command", "another kvstack local command"))
    pid = holder.get("pid", "?")
    since = holder.get("since")
    age = f", for {time.time() - since:.0f} s" if isinstance(since, int | float) else ""
    return LocalCloudflareError(
        f"cannot run `kvstack local {command}`: `kvstack local {running}` (pid {pid}{age}) is running on {path.parent}",
        hint="wait for it to finish, then run the command again",
    )
