"""Where a run points, chosen once: the real Cloudflare or the local one (``--local`` / ``KVSTACK_LOCAL``).

A small registry in the pytest-testinfra style: targets are known by name and their module is imported
only when chosen. The target alone decides where the outputs, the API URL, the token and the app URLs
come from (see :class:`~kvstack.targets.base.Target`)::

    target = choose_target(root, "dev", local=False, outputs_file=None)
    print(target.describe(api=True))     # which target, which outputs source: printed once per command
    outputs = target.outputs(with_secrets=True)
    with target.api_client() as api: ...
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Final

from kvstack.errors import UsageError
from kvstack.targets.base import Target

__all__ = ["TARGETS", "Target", "choose_target", "get_target"]

# name -> "module:Class"; the module is imported only when the target is chosen.
TARGETS: Final = {
    "cloudflare": "kvstack.targets.cloudflare:CloudflareTarget",
    "local": "kvstack.targets.local:LocalTarget",
}


def get_target(
    name: str, root: Path, stack: str, *, outputs_file: Path | None = None, api_url: str | None = None
) -> Target:
    """The target registered as ``name`` for ``stack`` of the project at ``root``."""
    if name not in TARGETS:
        raise UsageError(f"no target named {name!r}", hint=f"targets: {', '.join(TARGETS)}")
    module_name, _, class_name = TARGETS[name].partition(":")
    cls: type[Target] = getattr(importlib.import_module(module_name), class_name)
    return cls(root, stack, outputs_file=outputs_file, api_url=api_url)


def choose_target(
    root: Path, stack: str, *, local: bool, outputs_file: Path | None = None, api_url: str | None = None
) -> Target:
    """``--local`` chooses the local Cloudflare, else the real one; mixing sources is refused (exit 2)."""
    return get_target("local" if local else "cloudflare", root, stack, outputs_file=outputs_file, api_url=api_url)
