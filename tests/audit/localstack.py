"""A running `kvstack local up` of a temporary copy of the project, for the audit's live tests.

Defects are planted through the official SDK with the local bootstrap token (as a user with dashboard rights
would), through the rendered wrangler file, or with the apps' own tokens; the audit always runs with the
stack's read-only `audit` token.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudflare
import httpx

from kvstack.audit import AuditOptions, open_target, run_audit
from kvstack.audit.importfile import plan_adoption
from kvstack.audit.report import build_report
from kvstack.local import control
from kvstack.local.state import LocalState, local_outputs_file

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Local:
    root: Path
    state: LocalState
    token: str
    document: dict[str, Any]
    token_values: dict[str, str]

    def sdk(self, token: str | None = None) -> cloudflare.Cloudflare:
        return cloudflare.Cloudflare(
            api_token=token or self.token,
            base_url=f"{self.state.api_url}/client/v4",
            max_retries=0,
            _strict_response_validation=True,
        )

    def ids(self, app: str, binding: str) -> dict[str, str]:
        ids: dict[str, str] = self.document["apps"][app]["bindings"][binding]
        return ids

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        answer = httpx.request(
            method, f"{self.state.api_url}{path}", json=body, headers={"authorization": f"Bearer {self.token}"}
        )
        answer.raise_for_status()
        return answer.json()

    def audit(self, **options: Any) -> dict[str, Any]:
        target = open_target(AuditOptions(stack="dev", root=self.root, local=True, **options))
        try:
            result = run_audit(target)
        finally:
            target.close()
        return build_report(result, plan_adoption(target.account_id, result.namespaces, target.catalogs), "error")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kvstack", "audit", "--local", "--root", str(self.root), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )


@contextmanager
def local_up(root: Path, edit: Callable[[Path], None] | None = None) -> Iterator[Local]:
    """`kvstack local up --stack dev` of a copy of the project in ``root`` (``edit`` changes the copy first)."""
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "keyspaces", root / "keyspaces")
    if edit is not None:
        edit(root)
    state = control.up(root, "dev")
    try:
        token = Path(state.token_file).read_text(encoding="utf-8").strip()
        stack_output = json.loads(local_outputs_file(root, "dev").read_text())
        yield Local(root, state, token, stack_output["kvstack"], stack_output.get("kvstack_token_values") or {})
    finally:
        control.down(root)
