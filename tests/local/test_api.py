"""The local Cloudflare API held to real clients: the official SDK and wrangler, over loopback.

One storage worker (real wrangler dev / Miniflare) and one API server (uvicorn in a thread) per module.
Every test uses its own namespace, so tests stay independent.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudflare
import httpx
import pytest
import uvicorn

from kvstack.local.api import Settings, asgi_app
from kvstack.local.api.app import KnobsMiddleware
from kvstack.local.wrangler import free_port, node_environment, start_wrangler_dev, wrangler_command
from kvstack.permissions import account_resource, group_by_name
from kvstack.workers import STORAGE_DIR

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-api")]

ACCOUNT = "0123456789abcdef0123456789abcdef"
OTHER_ACCOUNT = "fedcba9876543210fedcba9876543210"


@dataclass
class Api:
    url: str
    token: str
    storage_url: str
    app: KnobsMiddleware

    def sdk(self, token: str | None = None) -> cloudflare.Cloudflare:
        return cloudflare.Cloudflare(api_token=token or self.token, base_url=f"{self.url}/client/v4", max_retries=0)

    def knobs(self, **changes: Any) -> None:
        answer = httpx.put(f"{self.url}/__kvstack/knobs", json=changes, headers=self.auth())
        assert answer.status_code == 200, answer.text

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("local-api")
    storage = start_wrangler_dev(
        STORAGE_DIR / "wrangler.toml",
        name="storage",
        persist_to=folder / "storage",
        log_file=folder / "storage.log",
    )
    app = asgi_app(Settings(state=folder / "api", account_id=ACCOUNT, storage_url=storage.url))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    token = (folder / "api" / "bootstrap-token").read_text().strip()
    try:
        yield Api(url=f"http://127.0.0.1:{port}", token=token, storage_url=storage.url, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        storage.stop()


@pytest.fixture
def namespace(api: Api) -> str:
    created = api.sdk().kv.namespaces.create(account_id=ACCOUNT, title=f"test-{uuid.uuid4().hex[:12]}")
    assert created is not None
    return created.id


def error_of(call: Any) -> tuple[int, int, dict[str, Any]]:
    with pytest.raises(cloudflare.APIStatusError) as caught:
        call()
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["success"] is False
    assert body["result"] is None
    assert body["messages"] == []
    return caught.value.status_code, body["errors"][0]["code"], body


def scoped_token(api: Api, *groups: str, account: str = ACCOUNT, expires_on: str | None = None) -> str:
    ids = []
    for name in groups:
        group = group_by_name(name)
        assert group is not None
        ids.append({"id": group.id})
    body: dict[str, Any] = {
        "name": f"t-{uuid.uuid4().hex[:8]}",
        "policies": [{"effect": "allow", "permission_groups": ids, "resources": {account_resource(account): "*"}}],
    }
    if expires_on:
        body["expires_on"] = expires_on
    answer = httpx.post(f"{api.url}/client/v4/accounts/{ACCOUNT}/tokens", json=body, headers=api.auth()).json()
    assert answer["success"], answer
    value: str = answer["result"]["value"]
    return value


# --- namespaces


def test_namespace_lifecycle_with_unique_titles(api: Api) -> None:
    sdk = api.sdk()
    title = f"life-{uuid.uuid4().hex[:8]}"
    created = sdk.kv.namespaces.create(account_id=ACCOUNT, title=title)
    assert created is not None
    assert sdk.kv.namespaces.get(created.id, account_id=ACCOUNT).title == title  # type: ignore[union-attr]
    assert (error_of(lambda: sdk.kv.namespaces.create(account_id=ACCOUNT, title=title)))[:2] == (400, 10014)
    other = sdk.kv.namespaces.create(account_id=ACCOUNT, title=title + "-other")
    assert other is not None
    assert error_of(lambda: sdk.kv.namespaces.update(other.id, account_id=ACCOUNT, title=title))[:2] == (400, 10014)
    sdk.kv.namespaces.update(created.id, account_id=ACCOUNT, title=title + "-renamed")
    titles = {ns.id: ns.title for ns in sdk.kv.namespaces.list(account_id=ACCOUNT, per_page=5)}
    assert titles[created.id] == title + "-renamed"
    sdk.kv.namespaces.values.update("k", account_id=ACCOUNT, namespace_id=created.id, value=b"v")
    sdk.kv.namespaces.delete(created.id, account_id=ACCOUNT)
    assert error_of(lambda: sdk.kv.namespaces.get(created.id, account_id=ACCOUNT))[:2] == (404, 10013)
    leftover = httpx.get(f"{api.storage_url}/cdn-cgi/explorer/api/storage/kv/namespaces/{created.id}/keys").json()
    assert leftover["result"] == []


def test_unknown_namespace_is_10013_on_every_kv_route(api: Api) -> None:
    sdk = api.sdk()
    missing = uuid.uuid4().hex
    for call in (
        lambda: sdk.kv.namespaces.keys.list(missing, account_id=ACCOUNT),
        lambda: sdk.kv.namespaces.values.get("k", account_id=ACCOUNT, namespace_id=missing),
        lambda: sdk.kv.namespaces.bulk_get(missing, account_id=ACCOUNT, keys=["k"]),
    ):
        assert error_of(call)[:2] == (404, 10013)


# --- values, keys, bulk


def test_values_round_trip_bytes_metadata_and_expiration(api: Api, namespace: str) -> None:
    sdk = api.sdk()
    raw = bytes(range(256))
    sdk.kv.namespaces.values.update(
        "bin:1", account_id=ACCOUNT, namespace_id=namespace, value=raw, metadata={"kind": "binary"}, expiration_ttl=120
    )
    read = sdk.kv.namespaces.values.with_raw_response.get("bin:1", account_id=ACCOUNT, namespace_id=namespace)
    assert read.http_response.content == raw
    assert int(read.headers["expiration"]) > time.time() + 100
    assert sdk.kv.namespaces.metadata.get("bin:1", account_id=ACCOUNT, namespace_id=namespace) == {"kind": "binary"}
    sdk.kv.namespaces.values.delete("bin:1", account_id=ACCOUNT, namespace_id=namespace)
    assert error_of(lambda: sdk.kv.namespaces.values.get("bin:1", account_id=ACCOUNT, namespace_id=namespace))[:2] == (
        404,
        10009,
    )


def test_key_listing_pages_with_cursor_and_prefix(api: Api, namespace: str) -> None:
    sdk = api.sdk()
    sdk.kv.namespaces.bulk_update(
        namespace, account_id=ACCOUNT, body=[{"key": f"page:{i:02d}", "value": str(i)} for i in range(25)]
    )
    sdk.kv.namespaces.bulk_update(namespace, account_id=ACCOUNT, body=[{"key": "other", "value": "x"}])
    names, cursor, pages = [], "", 0
    while True:
        params: dict[str, Any] = {"limit": 10, "prefix": "page:"}
        if cursor:
            params["cursor"] = cursor
        body = httpx.get(
            f"{api.url}/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces/{namespace}/keys",
            params=params,
            headers=api.auth(),
        ).json()
        names += [k["name"] for k in body["result"]]
        cursor = body["result_info"]["cursor"]
        pages += 1
        if not cursor:
            break
    assert names == [f"page:{i:02d}" for i in range(25)]
    assert pages == 3


def test_bulk_get_with_metadata_and_json(api: Api, namespace: str) -> None:
    sdk = api.sdk()
    sdk.kv.namespaces.bulk_update(
        namespace,
        account_id=ACCOUNT,
        body=[
            {"key": "a", "value": json.dumps({"n": 1}), "metadata": {"m": 1}, "expiration_ttl": 300},
            {"key": "b", "value": json.dumps([1, 2])},
        ],
    )
    url = f"{api.url}/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces/{namespace}/bulk/get"
    plain = httpx.post(url, json={"keys": ["a", "b", "nope"]}, headers=api.auth()).json()["result"]["values"]
    assert plain == {"a": '{"n": 1}', "b": "[1, 2]", "nope": None}
    rich = httpx.post(
        url, json={"keys": ["a", "nope"], "type": "json", "withMetadata": True}, headers=api.auth()
    ).json()["result"]["values"]
    assert rich["a"]["value"] == {"n": 1}
    assert rich["a"]["metadata"] == {"m": 1}
    assert rich["a"]["expiration"] > time.time()
    assert rich["nope"] is None
    sdk.kv.namespaces.bulk_delete(namespace, account_id=ACCOUNT, body=["a", "b"])
    assert list(sdk.kv.namespaces.keys.list(namespace, account_id=ACCOUNT)) == []


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("key-513-bytes", 414, 10033),
        ("key-dot", 400, 10019),
        ("key-dotdot", 400, 10019),
        ("ttl-59", 400, 10016),
        ("metadata-1025", 413, 10012),
        ("list-limit-9", 400, 10020),
        ("list-limit-1001", 400, 10020),
        ("bulk-get-101", 400, 10026),
        ("bulk-write-10001", 400, 10026),
        ("value-over-25MiB", 413, 10011),
    ],
)
def test_limits_are_cloudflares(api: Api, namespace: str, case: str, status: int, code: int) -> None:
    base = f"{api.url}/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces/{namespace}"
    headers = api.auth()
    requests = {
        "key-513-bytes": lambda: httpx.put(f"{base}/values/{'k' * 513}", content=b"v", headers=headers),
        "key-dot": lambda: httpx.put(f"{base}/bulk", json=[{"key": ".", "value": "v"}], headers=headers),
        "key-dotdot": lambda: httpx.put(f"{base}/bulk", json=[{"key": "..", "value": "v"}], headers=headers),
        "ttl-59": lambda: httpx.put(f"{base}/values/k", params={"expiration_ttl": 59}, content=b"v", headers=headers),
        "metadata-1025": lambda: httpx.put(
            f"{base}/values/k",
            headers=headers,
            files={"value": (None, "v"), "metadata": (None, json.dumps({"m": "x" * 1020}))},
        ),
        "list-limit-9": lambda: httpx.get(f"{base}/keys", params={"limit": 9}, headers=headers),
        "list-limit-1001": lambda: httpx.get(f"{base}/keys", params={"limit": 1001}, headers=headers),
        "bulk-get-101": lambda: httpx.post(
            f"{base}/bulk/get", json={"keys": [f"k{i}" for i in range(101)]}, headers=headers
        ),
        "bulk-write-10001": lambda: httpx.put(
            f"{base}/bulk", json=[{"key": f"k{i}", "value": "v"} for i in range(10_001)], headers=headers
        ),
        "value-over-25MiB": lambda: httpx.put(
            f"{base}/values/big", content=b"x" * (25 * 1024 * 1024 + 1), headers=headers, timeout=60
        ),
    }
    answer = requests[case]()
    body = answer.json()
    assert answer.status_code == status, body
    assert body["success"] is False
    assert body["errors"][0]["code"] == code
    assert list(api.sdk().kv.namespaces.keys.list(namespace, account_id=ACCOUNT)) == []


def test_unknown_route_is_7003(api: Api) -> None:
    answer = httpx.get(f"{api.url}/client/v4/accounts/{ACCOUNT}/nothing/here", headers=api.auth())
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["code"] == 7003


# --- Pages, Workers, tokens, accounts


def test_pages_projects_create_patch_merge_and_delete(api: Api, namespace: str) -> None:
    sdk = api.sdk()
    name = f"p-{uuid.uuid4().hex[:8]}"
    sdk.pages.projects.create(
        account_id=ACCOUNT,
        name=name,
        production_branch="main",
        deployment_configs={"production": {"kv_namespaces": {"A": {"namespace_id": namespace}}}},
    )
    url = f"{api.url}/client/v4/accounts/{ACCOUNT}/pages/projects/{name}"
    patch = {
        "deployment_configs": {
            "production": {"kv_namespaces": {"B": {"namespace_id": namespace}}},
            "preview": {"kv_namespaces": {"A": {"namespace_id": namespace}}},
        }
    }
    assert httpx.patch(url, json=patch, headers=api.auth()).json()["success"]
    removal = {"deployment_configs": {"production": {"kv_namespaces": {"A": None}}}}
    project = httpx.patch(url, json=removal, headers=api.auth()).json()["result"]
    assert project["deployment_configs"]["production"]["kv_namespaces"] == {"B": {"namespace_id": namespace}}
    assert project["deployment_configs"]["preview"]["kv_namespaces"] == {"A": {"namespace_id": namespace}}
    assert name in [p.name for p in sdk.pages.projects.list(account_id=ACCOUNT)]
    sdk.pages.projects.delete(name, account_id=ACCOUNT)
    assert error_of(lambda: sdk.pages.projects.get(name, account_id=ACCOUNT))[0] == 404


def test_worker_script_settings_list_registered_bindings(api: Api, namespace: str) -> None:
    bindings = [{"type": "kv_namespace", "name": "KV", "namespace_id": namespace}]
    assert httpx.put(f"{api.url}/__kvstack/scripts/app-x", json={"bindings": bindings}, headers=api.auth()).is_success
    sdk = api.sdk()
    assert "app-x" in [s.id for s in sdk.workers.scripts.list(account_id=ACCOUNT)]
    settings = sdk.workers.scripts.script_and_version_settings.get("app-x", account_id=ACCOUNT)
    assert [(b.name, getattr(b, "namespace_id", None)) for b in settings.bindings or []] == [("KV", namespace)]
    assert error_of(lambda: sdk.workers.scripts.script_and_version_settings.get("nope", account_id=ACCOUNT))[:2] == (
        404,
        10007,
    )


def test_tokens_create_verify_list_get_delete(api: Api) -> None:
    value = scoped_token(api, "Workers KV Storage Read")
    sdk = api.sdk()
    verified = api.sdk(value).accounts.tokens.verify(account_id=ACCOUNT)
    assert verified is not None
    assert verified.status == "active"
    listed = {t.id: t for t in sdk.accounts.tokens.list(account_id=ACCOUNT)}
    assert verified.id in listed
    details = sdk.accounts.tokens.get(verified.id, account_id=ACCOUNT)
    assert details is not None
    assert [g.name for p in details.policies or [] for g in p.permission_groups] == ["Workers KV Storage Read"]
    assert value not in json.dumps(
        httpx.get(f"{api.url}/client/v4/accounts/{ACCOUNT}/tokens", headers=api.auth()).json()
    )
    sdk.accounts.tokens.delete(verified.id, account_id=ACCOUNT)
    assert error_of(lambda: api.sdk(value).kv.namespaces.list(account_id=ACCOUNT))[:2] == (401, 10000)
    groups = {g.name for g in sdk.accounts.tokens.permission_groups.list(account_id=ACCOUNT)}
    assert {"Workers KV Storage Read", "Pages Write"} <= groups
    user = httpx.get(f"{api.url}/client/v4/user/tokens/verify", headers=api.auth()).json()
    assert user["result"]["status"] == "active"
    account = httpx.get(f"{api.url}/client/v4/accounts/{ACCOUNT}", headers=api.auth()).json()
    assert account["result"]["id"] == ACCOUNT


# --- enforcement


def test_read_only_token_reads_but_every_write_is_403(api: Api, namespace: str) -> None:
    api.sdk().kv.namespaces.values.update("seed", account_id=ACCOUNT, namespace_id=namespace, value=b"v")
    reader = api.sdk(scoped_token(api, "Workers KV Storage Read"))
    assert reader.kv.namespaces.values.get("seed", account_id=ACCOUNT, namespace_id=namespace).text() == "v"
    writes = (
        lambda: reader.kv.namespaces.create(account_id=ACCOUNT, title=f"ro-{uuid.uuid4().hex[:6]}"),
        lambda: reader.kv.namespaces.update(namespace, account_id=ACCOUNT, title="renamed"),
        lambda: reader.kv.namespaces.delete(namespace, account_id=ACCOUNT),
        lambda: reader.kv.namespaces.values.update("k", account_id=ACCOUNT, namespace_id=namespace, value=b"v"),
        lambda: reader.kv.namespaces.values.delete("seed", account_id=ACCOUNT, namespace_id=namespace),
        lambda: reader.kv.namespaces.bulk_update(namespace, account_id=ACCOUNT, body=[{"key": "k", "value": "v"}]),
        lambda: reader.kv.namespaces.bulk_delete(namespace, account_id=ACCOUNT, body=["seed"]),
    )
    for write in writes:
        assert error_of(write)[:2] == (403, 10000)
    assert api.sdk().kv.namespaces.values.get("seed", account_id=ACCOUNT, namespace_id=namespace).text() == "v"


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


def test_tokens_of_other_scopes_accounts_or_expired_are_refused(api: Api) -> None:
    pages_only = api.sdk(scoped_token(api, "Pages Read"))
    assert error_of(lambda: pages_only.kv.namespaces.list(account_id=ACCOUNT))[:2] == (403, 10000)
    elsewhere = api.sdk(scoped_token(api, "Workers KV Storage Read", account=OTHER_ACCOUNT))
    assert error_of(lambda: elsewhere.kv.namespaces.list(account_id=ACCOUNT))[:2] == (403, 10000)
    expired = api.sdk(scoped_token(api, "Workers KV Storage Read", expires_on="2020-01-01T00:00:00Z"))
    assert error_of(lambda: expired.kv.namespaces.list(account_id=ACCOUNT))[:2] == (401, 10000)
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = httpx.get(f"{api.url}/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces", headers=headers)
        assert (answer.status_code, answer.json()["errors"][0]["code"]) == (401, 10000)
    admin = httpx.get(f"{api.url}/__kvstack/knobs", headers=api.auth(scoped_token(api, "Workers KV Storage Write")))
    assert admin.status_code == 403


# --- knobs


def test_faults_are_seeded_and_each_kind_happens(api: Api) -> None:
    url = f"{api.url}/client/v4/accounts/{ACCOUNT}"
    try:
        api.knobs(faults="500=1")
        answer = httpx.get(url, headers=api.auth())
        assert (answer.status_code, answer.json()["errors"][0]["code"]) == (500, 10001)
        api.knobs(faults="429=1")
        answer = httpx.get(url, headers=api.auth())
        assert answer.status_code == 429
        assert int(answer.headers["retry-after"]) >= 1
        api.knobs(faults="drop=1")
        with pytest.raises(httpx.TransportError):
            httpx.get(url, headers=api.auth())

        def sequence() -> list[int]:
            api.knobs(faults="429=0.3,500=0.3", seed=7)
            return [httpx.get(url, headers=api.auth()).status_code for _ in range(30)]

        first = sequence()
        assert first == sequence()
        assert {200, 429, 500} <= set(first)
    finally:
        api.knobs(faults="", seed=0)


def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    token = scoped_token(api, "Account Settings Read")
    url = f"{api.url}/client/v4/accounts/{ACCOUNT}"
    try:
        api.knobs(rate_limit="5/60")
        statuses = [httpx.get(url, headers=api.auth(token)).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        answer = httpx.get(url, headers=api.auth(token))
        assert int(answer.headers["retry-after"]) >= 1
        assert answer.json()["errors"][0]["code"] == 971
    finally:
        api.knobs(rate_limit="1200/300")


def test_consistency_delay_hides_fresh_writes_from_listings_only(api: Api, namespace: str) -> None:
    sdk = api.sdk()
    try:
        api.knobs(consistency_delay=1.5)
        sdk.kv.namespaces.values.update("fresh", account_id=ACCOUNT, namespace_id=namespace, value=b"v")
        assert sdk.kv.namespaces.values.get("fresh", account_id=ACCOUNT, namespace_id=namespace).text() == "v"
        assert [k.name for k in sdk.kv.namespaces.keys.list(namespace, account_id=ACCOUNT)] == []
        deadline = time.monotonic() + 30
        listed: list[str] = []
        while not listed and time.monotonic() < deadline:
            time.sleep(0.25)
            listed = [k.name for k in sdk.kv.namespaces.keys.list(namespace, account_id=ACCOUNT)]
        assert listed == ["fresh"]
    finally:
        api.knobs(consistency_delay=0)


def test_request_log_records_routes_and_token_ids_never_values(api: Api, namespace: str) -> None:
    value = scoped_token(api, "Workers KV Storage Read")
    api.sdk(value).kv.namespaces.keys.list(namespace, account_id=ACCOUNT)
    log = httpx.get(f"{api.url}/__kvstack/requests", headers=api.auth()).json()["result"]
    entry = next(e for e in reversed(log) if e["path"].endswith(f"{namespace}/keys"))
    assert entry["route"] == "/client/v4/accounts/{account_id}/storage/kv/namespaces/{namespace_id}/keys"
    assert entry["method"] == "GET"
    assert entry["status"] == 200
    assert len(entry["token"]) == 32
    dumped = json.dumps(log)
    assert value not in dumped
    assert api.token not in dumped


# --- shared storage, real wrangler


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
