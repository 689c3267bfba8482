"""Writing planned files: checked first (no link, no FIFO, nothing read-only), then renamed into place."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from kvstack.errors import WranglerFileError
from kvstack.files import FileProblem, atomic_write, check_writable
from kvstack.render._model import FilePlan

__all__ = ["atomic_write", "check_plans", "write_plan"]


def _mode_for(plan: FilePlan) -> int:
    if plan.mode is not None:
        return plan.mode
    try:
        return stat.S_IMODE(plan.path.stat().st_mode)  # an existing file keeps its permissions
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _would_write(plan: FilePlan) -> bool:
    return plan.changed or (plan.mode is not None and plan.old_text is not None)


def check_plans(plans: Sequence[FilePlan]) -> None:
    """Refuse (WranglerFileError, exit 2) before anything is written if any file cannot be written safely.

    All or nothing: one read-only or linked file stops the render before the other files change.
    """
    for plan in plans:
        if not _would_write(plan):
            continue
        try:
            check_writable(plan.path)
        except FileProblem as problem:
            raise WranglerFileError(problem.message, file=plan.relpath, hint=problem.hint) from problem


def write_plan(plan: FilePlan) -> bool:
    """Bring ``plan.path`` to the planned text (and mode). True if anything was written or changed."""
    check_plans([plan])
    try:
        if plan.changed:
            atomic_write(plan.path, plan.new_text, mode=_mode_for(plan))
            return True
        if plan.mode is not None and stat.S_IMODE(plan.path.stat().st_mode) != plan.mode:
            os.chmod(plan.path, plan.mode, follow_symlinks=False)
            return True
    except OSError as exc:
        raise WranglerFileError(f"cannot write the file: {exc.strerror}", file=plan.relpath) from exc
    return False
