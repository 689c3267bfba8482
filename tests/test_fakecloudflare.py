"""The fake Cloudflare answers a request breaking one of Cloudflare's limits exactly like the local API.

Both get the same requests (the local API in-process through httpx's ASGI transport, the fake over
loopback) and must give the same HTTP status and Cloudflare error code: the fake is kept only where
the local Cloudflare cannot produce a situation, and then it must not disagree with it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from kvstack.local.api import Settings, asgi_app
from tests.fakecloudflare import ACCOUNT, TOKEN, FakeCloudflare

NAMESPACES = f"/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces"

# (what, method, path after the namespace, query, JSON body)
CASES: list[tuple[str, str, str, dict[str, str], Any]] = [
    ("bulk get of 101 keys", "POST", "/bulk/get", {}, {"keys": [f"k{n}" for n in range(101)]}),
    ("key listing of 5 per page", "GET", "/keys", {"limit": "5"}, None),
    ("key listing of 1001 per page", "GET", "/keys", {"limit": "1001"}, None),
    ("write with a TTL of 59 s", "PUT", "/values/k", {"expiration_ttl": "59"}, None),
    ("read of a 513-byte key", "GET", "/values/" + "k" * 513, {}, None),
]


def _answer(response: httpx.Response) -> tuple[int, int | None]:
    errors = response.json().get("errors") or [{}]
    return response.status_code, errors[0].get("code")


def _local_answers(tmp_path: Path) -> list[tuple[int, int | None]]:
    app = asgi_app(Settings(state=tmp_path / "api", account_id=ACCOUNT, storage_url="http://127.0.0.1:9"))
    token = (tmp_path / "api" / "bootstrap-token").read_text().strip()

    async def ask() -> list[tuple[int, int | None]]:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers
        ) as client:
            created = await client.post(NAMESPACES, json={"title": "limits"})
            namespace = created.json()["result"]["id"]
            answers = []
            for _, method, path, query, body in CASES:
                content = json.dumps(body) if body is not None else (b"v" if method == "PUT" else None)
                answers.append(
                    _answer(
                        await client.request(method, f"{NAMESPACES}/{namespace}{path}", params=query, content=content)
                    )
                )
            return answers

    return asyncio.run(ask())


def _fake_answers() -> list[tuple[int, int | None]]:
    with FakeCloudflare() as fake, httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        base = fake.base_url.removesuffix("/client/v4")
        namespace = client.post(base + NAMESPACES, json={"title": "limits"}).json()["result"]["id"]
        answers = []
        for _, method, path, query, body in CASES:
            content = json.dumps(body) if body is not None else (b"v" if method == "PUT" else None)
            answers.append(
                _answer(client.request(method, f"{base}{NAMESPACES}/{namespace}{path}", params=query, content=content))
            )
        return answers


@pytest.fixture(scope="module")
def local_answers(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, int | None]]:
    return _local_answers(tmp_path_factory.mktemp("local-api"))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case[0] for case in CASES])
def test_fake_refuses_like_the_local_api(local_answers: list[tuple[int, int | None]], index: int) -> None:
    fake = _fake_answers()[index]
    local = local_answers[index]
    assert local[0] >= 400, f"{CASES[index][0]}: the local API accepted it ({local})"
    assert fake == local, f"{CASES[index][0]}: the fake answers {fake}; the local API {local}"


def test_fake_records_query_strings() -> None:
    with FakeCloudflare() as fake, httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        client.get(fake.base_url + "/accounts/x/storage/kv/namespaces/n/keys", params={"limit": "1000"})
    assert fake.queries == [{"limit": "1000"}]
