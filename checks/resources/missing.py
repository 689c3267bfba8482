"""A declared resource the outputs document lacks: every check of it fails, naming what is missing.

The suite accounts for everything the catalog declares before it checks anything: a token, app,
binding or flow the outputs do not carry cannot be verified, and "not verified" is never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MissingFromOutputs"]


@dataclass(frozen=True)
class MissingFromOutputs:
    """``what`` (e.g. ``token audit``) is declared by the catalog but absent from the outputs document."""

    app: str | None
    label: str
    what: str
    hint: str = "run `pulumi up` for this stack (or `kvstack local up`), then check again"

    @property
    def message(self) -> str:
        return (
            f"{self.label}: expected {self.what} in the outputs document, as the catalog declares it; "
            f"found none — {self.hint}"
        )
