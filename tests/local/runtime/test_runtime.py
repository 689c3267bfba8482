"""kvstack.local.runtime with real wrangler: routing, the record, stopping from another process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kvstack.local.runtime import LocalRuntime
from tests.local.runtime.conftest import Stack, start_stack

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]


def test_every_app_is_mounted_under_the_runtime_url(stack: Stack) -> None:
    runtime = stack.runtime
    assert runtime.env == "staging"
    assert {name: app.url for name, app in runtime.apps.items()} == {
        "dubai-app-front": f"{runtime.url}/dubai-app-front",
        "pickmyclass": f"{runtime.url}/pickmyclass",
        "codex": f"{runtime.url}/codex",
    }
    # One --env applies to every config of the process, so every worker is named <name>-staging.
    listed = httpx.get(f"{runtime.url}/__kvstack/apps").json()
    assert listed == {
        "apps": {
            "dubai-app-front": "dubai-app-front-staging",
            "pickmyclass": "pickmyclass-staging",
            "codex": "codex-staging",
        }
    }
    assert {app.worker for app in runtime.apps.values()} == set(listed["apps"].values())
    assert {(app.pid, app.port) for app in runtime.apps.values()} == {(runtime.pid, runtime.port)}


def test_the_runtime_reaches_nothing_outside_loopback(stack: Stack) -> None:
    stack.client("codex").get("/health")
    log = stack.runtime.log_file.read_text(errors="replace")
    assert "workers.cloudflare.com" not in log, f"wrangler tried to reach Cloudflare:\n{log[-2000:]}"


def test_apps_see_their_own_paths_and_queries(stack: Stack) -> None:
    with stack.client("dubai-app-front") as client:
        assert client.get("/no/such/route").json() == {"error": "no route /no/such/route"}
        assert client.get("/api/charts", params={"sessionId": "kvstack-smoke-q"}).json()["sessionId"] == (
            "kvstack-smoke-q"
        )


def test_paths_outside_the_apps_reach_the_storage_worker_and_the_explorer(stack: Stack) -> None:
    assert httpx.get(stack.runtime.storage_url + "/").text == "kvstack local storage worker\n"
    response = httpx.get(f"{stack.runtime.explorer_url}/storage/kv/namespaces/{'0' * 32}/keys")
    assert response.status_code == 200, response.text
    assert response.json()["result"] == []


def test_record_round_trips(stack: Stack) -> None:
    again = LocalRuntime.from_record(stack.runtime.record())
    assert again.record() == stack.runtime.record()
    assert again.apps == stack.runtime.apps


def group_exists(group: int, patience: float) -> bool:
    """Whether process group ``group`` still exists after up to ``patience`` seconds of waiting."""
    deadline = time.monotonic() + patience
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)


def test_stop_runtime_from_another_process_stops_wrangler_and_workerd(tmp_path: Path) -> None:
    runtime = start_stack(tmp_path)
    group = os.getpgid(runtime.pid)
    assert group == runtime.pid
    ps = ["ps", "-o", "comm=", "-g", str(group)]
    members = subprocess.run(ps, check=True, capture_output=True, text=True).stdout.split()
    assert "workerd" in members, members
    code = (
        "import sys; from kvstack.local.wrangler import stop_runtime; "
        f"sys.exit(0 if stop_runtime({runtime.pid}) else 3)"
    )
    stopped = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert runtime.process is not None
    runtime.process.wait(timeout=10)  # reap our child; its exited children are reaped by init
    assert not group_exists(group, patience=10), "processes of the runtime's group are left"
    with pytest.raises(httpx.ConnectError):
        httpx.get(runtime.url, timeout=2)
