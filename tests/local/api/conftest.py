"""One local Cloudflare API for every test of ``tests/local/api/``: real wrangler/Miniflare storage and the API
server (uvicorn, configured as `kvstack local up` runs it) on loopback, reached by the official SDK in strict
response validation, sync and async. Every test uses its own namespace, so tests stay independent.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cloudflare
import httpx
import pytest
from cloudflare._base_client import AsyncPaginator, BaseSyncPage

from kvstack.local.api.app import KnobsMiddleware
from kvstack.local.api.inprocess import serve_api
from kvstack.permissions import account_resource, group_by_name

ACCOUNT = "0123456789abcdef0123456789abcdef"
OTHER_ACCOUNT = "fedcba9876543210fedcba9876543210"


@dataclass
class Api:
    url: str
    token: str
    storage_url: str
    app: KnobsMiddleware

    @property
    def base(self) -> str:
        return f"{self.url}/client/v4"

    def sdk(self, token: str | None = None) -> cloudflare.Cloudflare:
        """The pinned SDK, rejecting any answer whose shape its models do not accept."""
        return cloudflare.Cloudflare(
            api_token=token or self.token, base_url=self.base, max_retries=0, _strict_response_validation=True
        )

    def async_sdk(self, token: str | None = None) -> cloudflare.AsyncCloudflare:
        return cloudflare.AsyncCloudflare(
            api_token=token or self.token, base_url=self.base, max_retries=0, _strict_response_validation=True
        )

    def knobs(self, **changes: Any) -> None:
        answer = httpx.put(f"{self.url}/__kvstack/knobs", json=changes, headers=self.auth())
        assert answer.status_code == 200, answer.text

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_api(tmp_path_factory.mktemp("local-api"), ACCOUNT) as served:
        yield Api(url=served.url, token=served.token, storage_url=served.storage.url, app=served.app)


@pytest.fixture
def namespace(api: Api) -> str:
    created = api.sdk().kv.namespaces.create(account_id=ACCOUNT, title=f"test-{uuid.uuid4().hex[:12]}")
    return created.id


def error_of(call: Callable[[], Any]) -> tuple[int, int, dict[str, Any]]:
    """Status, Cloudflare code and body of the error a call through the SDK must raise."""
    with pytest.raises(cloudflare.APIStatusError) as caught:
        call()
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["success"] is False
    assert body["result"] is None
    assert body["messages"] == []
    return caught.value.status_code, body["errors"][0]["code"], body


def answer_error(answer: httpx.Response) -> tuple[int, int]:
    """Status and Cloudflare code of an error answer, after checking its envelope."""
    body = answer.json()
    assert body["success"] is False, body
    assert body["result"] is None
    assert body["errors"], body
    return answer.status_code, body["errors"][0]["code"]


def token_body(*groups: str, account: str = ACCOUNT, **extra: Any) -> dict[str, Any]:
    ids = []
    for name in groups:
        group = group_by_name(name)
        assert group is not None, name
        ids.append({"id": group.id})
    return {
        "name": f"t-{uuid.uuid4().hex[:8]}",
        "policies": [{"effect": "allow", "permission_groups": ids, "resources": {account_resource(account): "*"}}],
        **extra,
    }


def create_token(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{api.base}/accounts/{ACCOUNT}/tokens", json=body, headers=api.auth()).json()
    assert answer["success"], answer
    result: dict[str, Any] = answer["result"]
    return result


def scoped_token(api: Api, *groups: str, account: str = ACCOUNT, expires_on: str | None = None) -> str:
    extra = {"expires_on": expires_on} if expires_on else {}
    value: str = create_token(api, token_body(*groups, account=account, **extra))["value"]
    return value


class Sdk:
    """One SDK call made through the sync or the async client (both strict), so each test runs both ways."""

    def __init__(self, api: Api, mode: str, token: str | None = None) -> None:
        self.api, self.mode, self.token = api, mode, token

    def with_token(self, token: str) -> Sdk:
        return Sdk(self.api, self.mode, token)

    def __call__(self, call: Callable[[Any], Any]) -> Any:
        """``call(client)``'s result; async answers are awaited, paginators read to the end."""
        if self.mode == "sync":
            result = call(self.api.sdk(self.token))
            return list(result) if isinstance(result, BaseSyncPage) else result

        async def run() -> Any:
            async with self.api.async_sdk(self.token) as client:
                result = call(client)
                if isinstance(result, AsyncPaginator):
                    return [item async for item in result]
                return await result if inspect.isawaitable(result) else result

        return asyncio.run(run())

    def error(self, call: Callable[[Any], Any]) -> tuple[int, int]:
        """Status and Cloudflare code of the error the call must raise."""
        status, code, _ = error_of(lambda: self(call))
        return status, code


@pytest.fixture(params=["sync", "async"])
def sdk(request: pytest.FixtureRequest, api: Api) -> Sdk:
    return Sdk(api, request.param)
