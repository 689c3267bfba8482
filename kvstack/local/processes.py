"""The local Cloudflare's processes as the OS sees them: whole process groups, who holds the storage, who answers.

Every process `kvstack local up` starts leads its own process group (``start_new_session``), so the
recorded pid is also the group id. wrangler's workerd children stay in that group when wrangler itself
dies (``kill -9``): stopping the *group* stops everything a runtime started, and the group is found again
from any shell through ``/proc``, even after its leader is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Final

__all__ = ["OURS", "group_members", "port_answers", "stop_group", "storage_holders"]

# What the processes of a local Cloudflare run: a group whose members run none of these is not ours.
OURS: Final = ("workerd", "wrangler", "kvstack.local", "miniflare", "node", "valkey", "redis-server")
_PROC: Final = Path("/proc")


def _pids() -> Iterable[int]:
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of ``pid`` from /proc/<pid>/stat, None if it is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ")".
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[0], int(fields[2])


def _command(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def group_members(pgid: int) -> list[int]:
    """The live processes of group ``pgid`` (zombies waiting for their parent do not count)."""
    members = []
    for pid in _pids():
        stat = _stat(pid)
        if stat is not None and stat[1] == pgid and stat[0] not in ("Z", "X"):
            members.append(pid)
    return members


def _is_ours(members: Iterable[int]) -> bool:
    return any(any(word in _command(pid) for word in OURS) for pid in members)


def stop_group(pgid: int, timeout: float = 10.0) -> bool:
    """Stop every process of group ``pgid`` (TERM, then KILL after ``timeout``), leader alive or not.

    False when nothing of the group runs any more, or when what runs under that id is not a local
    Cloudflare's (the pid was reused by another program): that is left alone.
    """
    members = group_members(pgid)
    if not members or not _is_ours(members):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError, OSError):  # reap a leader that is our own child
            os.waitpid(pgid, os.WNOHANG)
        if not group_members(pgid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    return True


def storage_holders(storage: Path) -> dict[int, int]:
    """Processes with a file open under ``storage`` (Miniflare's SQLite files), as pid -> process group."""
    prefix = str(storage.resolve()) + os.sep
    holders = {}
    for pid in _pids():
        if pid == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for fd in (_PROC / str(pid) / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd).startswith(prefix):
                        stat = _stat(pid)
                        if stat is not None:
                            holders[pid] = stat[1]
                        break
    return holders


def port_answers(port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=timeout):
        return True
    return False
