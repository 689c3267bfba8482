"""What every command that reads a deployed stack is given: which stack, which target, how hard to use the API.

``kvstack check`` (:class:`checks.context.CheckOptions`) and ``kvstack audit``
(:class:`kvstack.audit.target.AuditOptions`) extend :class:`TargetOptions` with their own knobs; the
target is chosen here, once, from ``--local`` / ``--outputs`` / ``--api-url`` (mixing them is exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kvstack.cloudflare import DEFAULT_RUN_DEADLINE
from kvstack.keyspace import DEFAULT_SAMPLE
from kvstack.targets import Target, choose_target

__all__ = ["DEFAULT_EXPIRY_DAYS", "TargetOptions"]

# Tokens expiring within this many days are reported (--expiry-days).
DEFAULT_EXPIRY_DAYS: Final = 14


@dataclass(frozen=True)
class TargetOptions:
    """The stack and target of a run and its API knobs, as the command line gave them."""

    stack: str
    root: Path
    local: bool = False
    outputs_file: Path | None = None
    api_url: str | None = None
    sample: int = DEFAULT_SAMPLE
    deep: bool = False
    expiry_days: int = DEFAULT_EXPIRY_DAYS
    concurrency: int = 8
    rate_limit: int = 1200
    # The whole run's deadline (s); a refused token or an unreachable API ends the run at its first request.
    timeout: float = DEFAULT_RUN_DEADLINE

    def target(self, stack: str | None = None) -> Target:
        """The run's one target for ``stack`` (default: the run's); ``--outputs`` is the run's stack's only."""
        stack = stack or self.stack
        return choose_target(
            self.root,
            stack,
            local=self.local,
            outputs_file=self.outputs_file if stack == self.stack else None,
            api_url=self.api_url,
        )
