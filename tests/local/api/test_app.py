"""The app as a whole: unknown routes, oversized headers, one state for every stack's account, the storage
shared with Miniflare, and wrangler's own KV commands against the local API."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from kvstack.local.api import Settings, asgi_app
from kvstack.local.api.app import KnobsMiddleware
from kvstack.local.wrangler import node_environment, wrangler_command
from tests.local.api.conftest import ACCOUNT, OTHER_ACCOUNT, Api, answer_error

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-api")]


def test_unknown_route_is_7003(api: Api) -> None:
    answer = httpx.get(f"{api.base}/accounts/{ACCOUNT}/nothing/here", headers=api.auth())
    assert answer_error(answer) == (404, 7003)


@pytest.mark.parametrize("size", [40_000, 1_000_000])
def test_an_oversized_header_is_431_and_the_connection_survives(api: Api, size: int) -> None:
    with httpx.Client(base_url=api.base, headers=api.auth()) as client:
        answer = client.get(f"/accounts/{ACCOUNT}", headers={"X-Big": "x" * size})
        assert answer_error(answer) == (431, 10034)
        assert client.get(f"/accounts/{ACCOUNT}").status_code == 200


def test_the_bootstrap_token_serves_every_stacks_account_from_one_state(tmp_path: Path) -> None:
    """Stacks may name different accounts; `local up` of one after the other keeps one API state."""

    async def list_namespaces(app: KnobsMiddleware, account: str, token: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return await client.get(
                f"/client/v4/accounts/{account}/storage/kv/namespaces", headers={"Authorization": f"Bearer {token}"}
            )

    for account in (ACCOUNT, OTHER_ACCOUNT, ACCOUNT):
        app = asgi_app(Settings(state=tmp_path / "api", account_id=account, storage_url="http://127.0.0.1:9"))
        token = (tmp_path / "api" / "bootstrap-token").read_text().strip()
        answer = asyncio.run(list_namespaces(app, account, token))
        assert answer.status_code == 200, f"API for {account}: {answer.text}"


def test_api_and_miniflare_storage_see_each_others_writes(api: Api, namespace: str) -> None:
    explorer = f"{api.storage_url}/cdn-cgi/explorer/api/storage/kv/namespaces/{namespace}"
    api.sdk().kv.namespaces.values.update("from:api", account_id=ACCOUNT, namespace_id=namespace, value=b"a")
    assert httpx.get(f"{explorer}/values/from%3Aapi").text == "a"
    httpx.put(f"{explorer}/values/from%3Aminiflare", content=b"m")
    read = api.sdk().kv.namespaces.values.get("from:miniflare", account_id=ACCOUNT, namespace_id=namespace)
    assert read.text() == "m"


def test_wrangler_kv_commands_work_unchanged(api: Api, namespace: str, tmp_path: Path) -> None:
    env = node_environment(
        {
            "CLOUDFLARE_API_BASE_URL": f"{api.url}/client/v4",
            "CLOUDFLARE_API_TOKEN": api.token,
            "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
            "WRANGLER_LOG": "log",
        }
    )

    def wrangler(*args: str) -> str:
        done = subprocess.run(
            [*wrangler_command(), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert namespace in wrangler("kv", "namespace", "list")
    remote = ("--remote", "--namespace-id", namespace)
    wrangler("kv", "key", "put", *remote, "hello:1", "world")
    assert wrangler("kv", "key", "get", *remote, "hello:1", "--text").strip() == "world"
    assert [k["name"] for k in json.loads(wrangler("kv", "key", "list", *remote))] == ["hello:1"]
    wrangler("kv", "key", "delete", *remote, "hello:1")
    assert json.loads(wrangler("kv", "key", "list", *remote)) == []


@pytest.mark.parametrize(
    "change", [{"status": "disabled"}, {"condition": {"request.ip": {"in": ["10.0.0.0/8"]}}}], ids=["disabled", "ip"]
)
def test_a_bootstrap_token_a_user_disabled_or_bound_is_issued_again_when_the_api_starts(
    tmp_path: Path, change: dict[str, object]
) -> None:
    """`local down` + `local up` gives back a working bootstrap token, whatever was done to the old one."""

    async def call(app: KnobsMiddleware, method: str, path: str, token: str, body: object = None) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})

    settings = Settings(state=tmp_path / "api", account_id=ACCOUNT, storage_url="http://127.0.0.1:9")
    token_file = tmp_path / "api" / "bootstrap-token"
    app = asgi_app(settings)
    old = token_file.read_text().strip()
    verified = asyncio.run(call(app, "GET", "/client/v4/user/tokens/verify", old)).json()["result"]
    current = asyncio.run(call(app, "GET", f"/client/v4/user/tokens/{verified['id']}", old)).json()["result"]
    body = {"name": current["name"], "policies": current["policies"], **change}
    changed = asyncio.run(call(app, "PUT", f"/client/v4/user/tokens/{verified['id']}", old, body))
    assert changed.status_code == 200, changed.text
    assert asyncio.run(call(app, "GET", f"/client/v4/accounts/{ACCOUNT}", old)).status_code in (401, 403)

    restarted = asgi_app(settings)
    new = token_file.read_text().strip()
    assert new != old
    assert asyncio.run(call(restarted, "GET", f"/client/v4/accounts/{ACCOUNT}", new)).status_code == 200
    assert asyncio.run(call(restarted, "GET", "/__kvstack/knobs", new)).status_code == 200
