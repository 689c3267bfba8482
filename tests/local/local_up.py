"""`kvstack local up` on a user's own project, through the real CLI: what it printed, its status, its namespaces.

Shared by the tests of a user's own apps (test_own_apps.py: Workers; test_own_pages.py: Pages Functions).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cloudflare
import httpx
import pytest

from kvstack.local.state import local_outputs_file
from kvstack.outputs import read_outputs_file
from tests.cli.conftest import run_kvstack
from tests.local.own_project import ACCOUNT

__all__ = ["Up", "check_local", "local_up", "operations", "running", "start", "wait_until_counted"]


@dataclass
class Up:
    """A project after `kvstack local up`: what it printed, its exit code and `local status --json`."""

    root: Path
    code: int
    printed: str
    status: dict[str, Any]

    def sdk(self) -> cloudflare.Cloudflare:
        token = Path(self.status["token_file"]).read_text().strip()
        return cloudflare.Cloudflare(
            api_token=token,
            base_url=f"{self.status['api_url']}/client/v4",
            max_retries=0,
            _strict_response_validation=True,
        )

    def ids(self, app: str, binding: str) -> tuple[str, str]:
        found = read_outputs_file(local_outputs_file(self.root, "dev")).apps[app].bindings[binding]
        return found.id, found.preview_id

    def stored_in_production_only(self, app: str, binding: str, key: str) -> str:
        """``key``'s value in the production namespace of ``app``'s binding, read with the SDK; never in preview."""
        production, preview = self.ids(app, binding)
        with self.sdk() as sdk:
            stored = sdk.kv.namespaces.values.get(key, account_id=ACCOUNT, namespace_id=production).text()
            with pytest.raises(cloudflare.NotFoundError):
                sdk.kv.namespaces.values.get(key, account_id=ACCOUNT, namespace_id=preview)
        return stored

    def lines(self, app: str) -> list[str]:
        """The lines `up` printed about ``app``."""
        return [line for line in self.printed.splitlines() if line.startswith(f"{app}:")]


def start(root: Path) -> Up:
    """`local up --stack dev` on ``root``, and `local status --json` after it (the caller runs `down`)."""
    result = run_kvstack("local", "up", "--stack", "dev", "--root", str(root))
    status = run_kvstack("local", "status", "--json", "--root", str(root))
    return Up(root, result.returncode, result.stdout + result.stderr, json.loads(status.stdout or "{}"))


@contextlib.contextmanager
def running(root: Path) -> Iterator[Up]:
    """`local up --stack dev` on ``root`` for the duration of the block, then `local down`."""
    try:
        yield start(root)
    finally:
        run_kvstack("local", "down", "--root", str(root))


@pytest.fixture
def local_up() -> Iterator[Callable[[Path], Up]]:
    """`local up --stack dev` on a project; every project started is stopped at the end."""
    started: list[Path] = []

    def up(root: Path) -> Up:
        started.append(root)
        return start(root)

    yield up
    for root in started:
        run_kvstack("local", "down", "--root", str(root))


def check_local(up: Up) -> tuple[int, str, dict[str, Any]]:
    """`kvstack check --local` on the project: its exit code, its output and its JSON report."""
    check = run_kvstack("check", "--local", "--stack", "dev", "--root", str(up.root))
    report = json.loads((up.root / "reports" / "check-dev.json").read_text())
    return check.returncode, check.stdout + check.stderr, report


def assert_check_local_passes(up: Up, app: str) -> None:
    """`kvstack check --local` exits 0 with nothing failed or skipped, and it reached ``app``'s bindings."""
    code, printed, report = check_local(up)
    assert code == 0, printed
    assert report["summary"]["failed"] == 0
    assert report["summary"]["skipped"] == 0
    passed = {c["name"] for c in report["checks"] if c["outcome"] == "passed"}
    assert f"test_app_reports_its_bindings_available[{app}]" in passed


def wait_until_counted(up: Up, namespace_id: str, action: str, count: int) -> None:
    """Wait until the analytics count ``count`` operations ``action`` on the namespace today (at most 30 s)."""
    deadline = time.monotonic() + 30  # the counter's record lands while the request ends (waitUntil)
    while operations(up, namespace_id).get(action, 0) != count:
        assert time.monotonic() < deadline, f"expected {count} {action}s counted: {operations(up, namespace_id)}"
        time.sleep(0.2)


def operations(up: Up, namespace_id: str) -> dict[str, int]:
    """Today's operations on one namespace, from the local GraphQL Analytics endpoint."""
    query = """query($a: string!, $d: Date!, $n: string!) { viewer { accounts(filter: {accountTag: $a}) {
      kvOperationsAdaptiveGroups(filter: {date: $d, namespaceId: $n}, limit: 10) {
        sum { requests } dimensions { actionType } } } } }"""
    token = Path(up.status["token_file"]).read_text().strip()
    variables = {"a": ACCOUNT, "d": datetime.now(UTC).date().isoformat(), "n": namespace_id}
    answer = httpx.post(
        f"{up.status['api_url']}/client/v4/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    ).json()
    groups = answer["data"]["viewer"]["accounts"][0]["kvOperationsAdaptiveGroups"]
    return {g["dimensions"]["actionType"]: g["sum"]["requests"] for g in groups}
