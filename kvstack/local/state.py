"""Where `kvstack local up` keeps its state, and what it records there.

Everything lives under ``<project>/.kvstack/local/`` (git-ignored):

    local.json                 the running local Cloudflare: processes (pid, port, log), URLs, stack
    api/                       the API server's own state (namespaces registry, projects, tokens)
    api/bootstrap-token        the all-powerful local token, mode 0600, never printed
    storage/                   Miniflare's --persist-to folder shared by the storage worker and the apps
    tree/<app folder>/…        each app's rendered wrangler file and deployed view (what workerd runs), beside
                               the reference app's copy for an app that runs kvstack's reference app
    upstash/                   the local Upstash: token, read-only-token (0600), users.acl, data/ (valkey)
    stacks/<stack>.outputs.json  the applied stack's outputs (`pulumi stack output --json` shape), 0600
    logs/                      one log per process
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kvstack.files import atomic_write

__all__ = [
    "LocalState",
    "ProcessRecord",
    "atomic_write_text",
    "local_outputs_file",
    "state_dir",
]


def state_dir(root: Path) -> Path:
    """The git-ignored folder holding the local Cloudflare's processes, storage, tokens and outputs."""
    return root / ".kvstack" / "local"


def local_outputs_file(root: Path, stack: str) -> Path:
    """The outputs of ``stack`` as applied to the local Cloudflare (`pulumi stack output --json` shape)."""
    return state_dir(root) / "stacks" / f"{stack}.outputs.json"


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    """State files are written whole or not at all; secrets get ``mode=0o600``."""
    atomic_write(path, text, mode=mode)


@dataclass
class ProcessRecord:
    """One process `local up` started: enough to find it, reach it and stop exactly it."""

    name: str
    role: str  # "storage", "api" or "app"
    pid: int
    port: int
    url: str
    log: str


@dataclass
class LocalState:
    """The running local Cloudflare as `local.json` records it."""

    stack: str
    account_id: str
    api_url: str
    token_file: str
    processes: list[ProcessRecord] = field(default_factory=list)
    apps: dict[str, str] = field(default_factory=dict)
    knobs: dict[str, Any] = field(default_factory=dict)
    # The local Upstash: its REST URL and token files (never the tokens), when the stack declares a store.
    upstash: dict[str, str] = field(default_factory=dict)
    # What runs for each app (its own code, the reference app, nothing): the line `up` printed.
    runs: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def path(root: Path) -> Path:
        return state_dir(root) / "local.json"

    @classmethod
    def load(cls, root: Path) -> LocalState | None:
        path = cls.path(root)
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        processes = [ProcessRecord(**p) for p in data.pop("processes", [])]
        return cls(processes=processes, **data)

    def save(self, root: Path) -> None:
        atomic_write_text(self.path(root), json.dumps(asdict(self), indent=2) + "\n")

    def status_document(self) -> dict[str, Any]:
        """What `kvstack local status --json` prints (no secrets: the token is a file path)."""
        return {
            "stack": self.stack,
            "api_url": self.api_url,
            "account_id": self.account_id,
            "token_file": self.token_file,
            "apps": dict(self.apps),
            "processes": [{**asdict(p), "alive": _alive(p)} for p in self.processes],
            "knobs": dict(self.knobs),
            "upstash": dict(self.upstash) or None,
            "runs": dict(self.runs),
        }


def _alive(record: ProcessRecord) -> bool:
    """Alive means whole and answering: the recorded leader runs and something accepts connections on its port.

    A pid alone says too little: wrangler outlives a killed workerd (the port is dead), and workerd outlives
    a killed wrangler (the port answers, but nothing reloads the apps any more).
    """
    from kvstack.local.processes import group_members, port_answers

    return record.pid in group_members(record.pid) and port_answers(record.port)
