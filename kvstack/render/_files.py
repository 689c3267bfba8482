"""Writing planned files: a temporary file beside the target, renamed into place."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from kvstack.errors import WranglerFileError
from kvstack.render._model import FilePlan

__all__ = ["atomic_write", "write_plan"]


def atomic_write(path: Path, text: str, *, mode: int) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename it into place.

    The temporary file has ``mode`` before the first byte is written (a .env with a token is never
    readable by others, not even for a moment); a reader sees the old file or the new one, never half.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".kvstack-tmp")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _mode_for(plan: FilePlan) -> int:
    if plan.mode is not None:
        return plan.mode
    try:
        return stat.S_IMODE(plan.path.stat().st_mode)  # an existing file keeps its permissions
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_plan(plan: FilePlan) -> bool:
    """Bring ``plan.path`` to the planned text (and mode). True if anything was written or changed."""
    try:
        if plan.changed:
            atomic_write(plan.path, plan.new_text, mode=_mode_for(plan))
            return True
        if plan.mode is not None and stat.S_IMODE(plan.path.stat().st_mode) != plan.mode:
            os.chmod(plan.path, plan.mode)
            return True
    except OSError as exc:
        raise WranglerFileError(f"cannot write the file: {exc.strerror}", file=plan.relpath) from exc
    return False
