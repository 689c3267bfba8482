"""The warning a check raises for what is worth telling but is not a failure (an optional binding missing)."""

from __future__ import annotations

__all__ = ["CheckWarning"]


class CheckWarning(UserWarning):
    """Reported beside the check's verdict; never fails it."""
