"""Writing planned files: a temporary file beside the target, renamed into place."""

from __future__ import annotations

import os
import stat

from kvstack.errors import WranglerFileError
from kvstack.files import atomic_write
from kvstack.render._model import FilePlan

__all__ = ["atomic_write", "write_plan"]


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
