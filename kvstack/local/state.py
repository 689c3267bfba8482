"""Where `kvstack local up` keeps its state, and the outputs document it wrote for a stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["local_outputs_file", "read_local_outputs", "state_dir"]


def state_dir(root: Path) -> Path:
    """The git-ignored folder holding the local Cloudflare's processes, storage, tokens and outputs."""
    return root / ".kvstack" / "local"


def local_outputs_file(root: Path, stack: str) -> Path:
    """The outputs of ``stack`` as applied to the local Cloudflare (`pulumi stack output --json` shape)."""
    return state_dir(root) / "stacks" / f"{stack}.outputs.json"


def read_local_outputs(root: Path, stack: str) -> dict[str, Any] | None:
    """The stack output the local Cloudflare recorded for ``stack``, or None if it has not applied it."""
    path = local_outputs_file(root, stack)
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
