"""The local Cloudflare's processes survive kills and races: whole groups stopped, one command at a time, probes.

Each test plants what a user's machine does: `kill -9` of a pid, a second command while the first runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import cloudflare
import httpx
import pytest

from kvstack.local import control
from kvstack.local.lock import exclusive
from kvstack.local.processes import group_members, port_answers
from kvstack.local.state import LocalState, state_dir
from tests.cli.conftest import ROOT, run_kvstack

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-up")]


def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "keyspaces", root / "keyspaces")
    return root


@pytest.mark.parametrize("command", [["up", "--stack", "dev"], ["down"], ["reset", "--yes"]])
def test_a_second_command_while_one_holds_the_folder_exits_2_saying_what_runs(
    tmp_path: Path, command: list[str]
) -> None:
    root = project(tmp_path)
    with exclusive(state_dir(root), "up --stack dev"):
        result = run_kvstack("local", *command, "--root", str(root))
    assert result.returncode == 2, result.stderr
    assert "`kvstack local up --stack dev` (pid" in result.stderr
    assert "Traceback" not in result.stderr


def test_after_kill_9_of_the_runtime_down_stops_wrangler_and_workerd_and_up_repairs(tmp_path: Path) -> None:
    root = project(tmp_path)
    state = control.up(root, "dev")
    try:
        runtime = next(p for p in state.processes if p.role == "runtime")
        members = group_members(runtime.pid)
        assert len(members) > 1, "wrangler runs workerd in its process group"
        os.kill(runtime.pid, signal.SIGKILL)  # the user's kill -9 of the recorded pid

        # status probes: the runtime is not whole any more (its leader is gone)
        status = run_kvstack("local", "status", "--json", "--root", str(root))
        assert status.returncode == 1

        # up repairs: what is left is stopped, a fresh runtime is the only one holding the storage
        repaired = control.up(root, "dev", progress=print)
        new_runtime = next(p for p in repaired.processes if p.role == "runtime")
        assert not [pid for pid in members if pid in group_members(runtime.pid)]
        assert port_answers(new_runtime.port)

        os.kill(new_runtime.pid, signal.SIGKILL)
        left = group_members(new_runtime.pid)
        assert left, "workerd outlives a killed wrangler"
    finally:
        control.down(root)
    assert group_members(new_runtime.pid) == []
    assert not port_answers(new_runtime.port)
    assert LocalState.load(root) is not None


def _status(root: Path) -> tuple[int, dict[str, bool]]:
    """`kvstack local status --json`: its exit code and whether each recorded process is alive."""
    result = run_kvstack("local", "status", "--json", "--root", str(root))
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {p["name"]: p["alive"] for p in json.loads(result.stdout)["processes"]}


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_with_the_api_killed_status_says_it_is_dead_and_up_starts_it_again(tmp_path: Path) -> None:
    root = project(tmp_path)
    state = control.up(root, "dev")
    try:
        api = next(p for p in state.processes if p.role == "api")
        os.kill(api.pid, signal.SIGKILL)
        code, alive = _status(root)
        assert (code, alive["api"], alive["runtime"]) == (1, False, True)

        repaired = control.up(root, "dev", progress=print)  # was: "the local Cloudflare is already running"
        new_api = next(p for p in repaired.processes if p.role == "api")
        assert port_answers(new_api.port)
        assert _status(root)[0] == 0
    finally:
        control.down(root)


def test_with_workerd_killed_status_says_the_runtime_is_dead_and_up_starts_it_again(tmp_path: Path) -> None:
    root = project(tmp_path)
    state = control.up(root, "dev")
    try:
        runtime = next(p for p in state.processes if p.role == "runtime")
        workerd = [pid for pid in group_members(runtime.pid) if "workerd" in _command_line(pid)]
        assert workerd, "wrangler runs workerd in its process group"
        for pid in workerd:
            os.kill(pid, signal.SIGKILL)
        assert group_members(runtime.pid), "the rest of the runtime's group outlives workerd"
        code, alive = _status(root)  # was: all alive (the recorded wrangler pid still runs)
        assert (code, alive["runtime"], alive["api"]) == (1, False, True)

        repaired = control.up(root, "dev", progress=print)
        new_runtime = next(p for p in repaired.processes if p.role == "runtime")
        assert port_answers(new_runtime.port)
        assert group_members(runtime.pid) == [], "what was left of the dead runtime is stopped"
        assert _status(root)[0] == 0
    finally:
        control.down(root)


def _sdk(state: LocalState) -> cloudflare.Cloudflare:
    token = Path(state.token_file).read_text().strip()
    return cloudflare.Cloudflare(
        api_token=token, base_url=f"{state.api_url}/client/v4", max_retries=0, _strict_response_validation=True
    )


def _pending(state: LocalState) -> int:
    token = Path(state.token_file).read_text().strip()
    answer = httpx.get(f"{state.api_url}/__kvstack/writes", headers={"authorization": f"Bearer {token}"})
    count: int = answer.json()["result"]["pending"]
    return count


def _stored_keys(state: LocalState, namespace: str) -> list[str]:
    """The keys Miniflare's storage holds (its explorer on the runtime's port: what a Worker's binding reads)."""
    runtime = next(p for p in state.processes if p.role == "runtime")
    explorer = f"http://127.0.0.1:{runtime.port}/cdn-cgi/explorer/api/storage/kv/namespaces/{namespace}/keys"
    names: list[str] = []
    cursor = ""
    while True:
        body: Any = httpx.get(explorer, params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
        names += [entry["name"] for entry in body["result"]]
        cursor = body["result_info"]["cursor"]
        if not cursor:
            return names


def _answered_not_stored(state: LocalState, count: int) -> tuple[str, list[str]]:
    """A new namespace and ``count`` keys bulk-written into it: answered, and not all in the storage yet."""
    sdk = _sdk(state)
    namespace = sdk.kv.namespaces.create(account_id=state.account_id, title=f"answered-{count}").id
    names = [f"k:{i:05d}" for i in range(count)]
    body: Any = [{"key": name, "value": name} for name in names]
    written = sdk.kv.namespaces.bulk_update(namespace, account_id=state.account_id, body=body)
    assert written is not None
    assert written.successful_key_count == count
    assert _pending(state) > 0, "every key was stored before the API could be stopped: nothing to lose"
    return namespace, names


@pytest.mark.slow
def test_writes_the_api_answered_survive_its_kill_9_and_are_stored_after_up(tmp_path: Path) -> None:
    root = project(tmp_path)
    state = control.up(root, "dev")
    try:
        namespace, names = _answered_not_stored(state, 10_000)
        api = next(p for p in state.processes if p.role == "api")
        os.kill(api.pid, signal.SIGKILL)  # the answered writes not yet in Miniflare exist only in the journal

        repaired = control.up(root, "dev", progress=print)
        deadline = time.monotonic() + 900  # a bound for a stuck drain, not a performance goal
        while _pending(repaired) and time.monotonic() < deadline:
            time.sleep(1)
        assert _pending(repaired) == 0
        assert _stored_keys(repaired, namespace) == names
    finally:
        control.down(root)


@pytest.mark.slow
def test_down_stores_the_writes_the_api_answered_before_it_stops(tmp_path: Path) -> None:
    root = project(tmp_path)
    state = control.up(root, "dev")
    try:
        namespace, names = _answered_not_stored(state, 5_000)
        shown = run_kvstack("local", "status", "--root", str(root))
        assert "KV writes answered by the API are not in the storage yet" in shown.stdout + shown.stderr
        counted = json.loads(run_kvstack("local", "status", "--json", "--root", str(root)).stdout)["writes"]
        assert counted["pending"] > 0
    finally:
        result = run_kvstack("local", "down", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert "accepted KV writes into the local storage" in result.stdout + result.stderr
    journal = sqlite3.connect(state_dir(root) / "api" / "pending-writes.sqlite")
    assert journal.execute("SELECT count(*) FROM pending").fetchone() == (0,)
    journal.close()

    again = control.up(root, "dev")
    try:
        assert _pending(again) == 0
        assert _stored_keys(again, namespace) == names
    finally:
        control.down(root)
