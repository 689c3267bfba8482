"""The local GraphQL Analytics subset, in-process through httpx's ASGI transport over a real storage worker
(wrangler dev): parsing, validation, introspection, grouping by the selected dimensions, the documented error
shape, who may query, and the API's own KV operations counted per key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kvstack.local.api import Settings, asgi_app
from kvstack.local.wrangler import start_wrangler_dev
from kvstack.permissions import account_resource, group_by_name
from kvstack.workers import STORAGE_DIR

pytestmark = [pytest.mark.runtime]

ACCOUNT = "0123456789abcdef0123456789abcdef"
NS_A, NS_B = "a" * 32, "b" * 32
TODAY = datetime.now(UTC).date()
OPERATIONS = """
query Ops($accountTag: string!, $start: Date!, $end: Date!) {
  viewer { accounts(filter: {accountTag: $accountTag}) {
    kvOperationsAdaptiveGroups(filter: {date_geq: $start, date_leq: $end}, limit: 100, orderBy: [date_ASC]) {
      sum { requests }
      dimensions { %s }
    }
  } }
}
"""


class _Client:
    """Sync calls into the ASGI app (httpx's ASGI transport is async only)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()  # one loop: the API keeps an async storage client across requests

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
                return await client.request(method, url, **kwargs)

        return self.loop.run_until_complete(call())

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)


class Api:
    def __init__(self, folder: Path, storage_url: str) -> None:
        self.app = asgi_app(Settings(state=folder, account_id=ACCOUNT, storage_url=storage_url))
        self.token = (folder / "bootstrap-token").read_text().strip()
        self.client = _Client(self.app)

    def post(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> httpx.Response:
        return self.client.post(
            "/client/v4/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token or self.token}"},
        )

    def backfill(self, operations: list[dict[str, Any]]) -> None:
        answer = self.client.put(
            "/__kvstack/usage/backfill",
            json={"operations": operations},
            headers={"authorization": f"Bearer {self.token}"},
        )
        assert answer.status_code == 200, answer.text

    def token_with(self, *groups: str) -> str:
        ids = [{"id": group.id} for name in groups if (group := group_by_name(name)) is not None]
        body = {
            "name": "t",
            "policies": [{"effect": "allow", "permission_groups": ids, "resources": {account_resource(ACCOUNT): "*"}}],
        }
        answer = self.client.post(
            f"/client/v4/accounts/{ACCOUNT}/tokens", json=body, headers={"authorization": f"Bearer {self.token}"}
        )
        value: str = answer.json()["result"]["value"]
        return value


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("graphql-storage")
    worker = start_wrangler_dev(
        STORAGE_DIR / "wrangler.toml",
        name="storage",
        persist_to=folder / "storage",
        log_file=folder / "storage.log",
    )
    try:
        yield worker.url
    finally:
        worker.stop()


@pytest.fixture
def api(tmp_path: Path, storage: str) -> Iterator[Api]:
    api = Api(tmp_path, storage)
    yield api
    api.client.loop.close()


def _window(days: int = 7) -> dict[str, str]:
    return {"accountTag": ACCOUNT, "start": str(TODAY - timedelta(days=days - 1)), "end": str(TODAY)}


def test_operations_are_summed_per_selected_dimensions(api: Api) -> None:
    yesterday = str(TODAY - timedelta(days=1))
    api.backfill(
        [
            {"namespaceId": NS_A, "actionType": "write", "requests": 5, "date": yesterday},
            {"namespaceId": NS_A, "actionType": "read", "requests": 7, "date": yesterday},
            {"namespaceId": NS_B, "actionType": "write", "requests": 3},
        ]
    )
    full = api.post(OPERATIONS % "namespaceId actionType date", _window()).json()
    assert full["errors"] is None
    groups = full["data"]["viewer"]["accounts"][0]["kvOperationsAdaptiveGroups"]
    assert {(g["dimensions"]["namespaceId"], g["dimensions"]["actionType"], g["sum"]["requests"]) for g in groups} == {
        (NS_A, "write", 5),
        (NS_A, "read", 7),
        (NS_B, "write", 3),
    }
    assert [g["dimensions"]["date"] for g in groups] == sorted(g["dimensions"]["date"] for g in groups)
    by_action = api.post(OPERATIONS % "actionType", _window()).json()["data"]["viewer"]["accounts"][0]
    totals = {g["dimensions"]["actionType"]: g["sum"]["requests"] for g in by_action["kvOperationsAdaptiveGroups"]}
    assert totals == {"write": 8, "read": 7}


def test_introspection_describes_both_datasets(api: Api) -> None:
    answer = api.post('{ __type(name: "Account") { fields { name } } }').json()
    names = {f["name"] for f in answer["data"]["__type"]["fields"]}
    assert names == {"kvOperationsAdaptiveGroups", "kvStorageAdaptiveGroups"}


def test_unsupported_dataset_is_a_graphql_error_in_the_documented_shape(api: Api) -> None:
    query = "query($a: string!) { viewer { accounts(filter: {accountTag: $a}) { httpRequests1dGroups { count } } } }"
    answer = api.post(query, {"a": ACCOUNT})
    assert answer.status_code == 200
    body = answer.json()
    assert body["data"] is None
    error = body["errors"][0]
    assert "httpRequests1dGroups" in error["message"]
    assert error["locations"][0]["line"] == 1
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["extensions"]["timestamp"].endswith("Z")


def test_a_syntax_error_is_a_graphql_error(api: Api) -> None:
    body = api.post("{ viewer { accounts(").json()
    assert body["data"] is None
    assert "Syntax Error" in body["errors"][0]["message"]


def test_a_window_over_31_days_and_another_account_are_refused_with_their_path(api: Api) -> None:
    too_long = api.post(OPERATIONS % "date", _window(32)).json()
    assert too_long["data"] is None
    assert "31 days" in too_long["errors"][0]["message"]
    assert too_long["errors"][0]["path"] == ["viewer", "accounts", 0, "kvOperationsAdaptiveGroups"]
    other = api.post(OPERATIONS % "date", {**_window(), "accountTag": "f" * 32}).json()
    assert "not authorized" in other["errors"][0]["message"]


def test_the_apis_own_kv_operations_are_counted_per_key_and_storage_is_measured(api: Api) -> None:
    headers = {"authorization": f"Bearer {api.token}"}
    base = f"/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces"
    namespace = api.client.post(base, json={"title": "counted"}, headers=headers).json()["result"]["id"]
    items = [{"key": f"k{i}", "value": "v" * 10} for i in range(30)]
    assert api.client.put(f"{base}/{namespace}/bulk", json=items, headers=headers).status_code == 200
    keys = {"keys": [f"k{i}" for i in range(20)]}
    assert api.client.post(f"{base}/{namespace}/bulk/get", json=keys, headers=headers).status_code == 200
    assert api.client.request("GET", f"{base}/{namespace}/keys", headers=headers).status_code == 200
    missing = api.client.request("GET", f"{base}/{namespace}/values/nope", headers=headers)
    assert missing.status_code == 404  # a failed request is no operation
    body = api.post(OPERATIONS % "namespaceId actionType", _window()).json()
    groups = body["data"]["viewer"]["accounts"][0]["kvOperationsAdaptiveGroups"]
    counted = {g["dimensions"]["actionType"]: g["sum"]["requests"] for g in groups}
    assert counted == {"write": 30, "read": 20, "list": 1}
    query = """query($a: string!, $s: Date!, $e: Date!) { viewer { accounts(filter: {accountTag: $a}) {
      kvStorageAdaptiveGroups(filter: {date_geq: $s, date_leq: $e}, limit: 10) {
        max { keyCount byteCount } dimensions { namespaceId date } } } } }"""
    body = api.post(query, {"a": ACCOUNT, "s": str(TODAY - timedelta(days=6)), "e": str(TODAY)}).json()
    (group,) = body["data"]["viewer"]["accounts"][0]["kvStorageAdaptiveGroups"]
    assert group == {
        "max": {"keyCount": 30, "byteCount": sum(len(f"k{i}") + 10 for i in range(30))},
        "dimensions": {"namespaceId": namespace, "date": str(TODAY)},
    }


def _storage(api: Api, namespace: str) -> dict[str, int]:
    query = """query($a: string!, $d: Date!, $n: string!) { viewer { accounts(filter: {accountTag: $a}) {
      kvStorageAdaptiveGroups(filter: {date: $d, namespaceId: $n}, limit: 10) { max { keyCount byteCount } } } } }"""
    body = api.post(query, {"a": ACCOUNT, "d": str(TODAY), "n": namespace}).json()
    (group,) = body["data"]["viewer"]["accounts"][0]["kvStorageAdaptiveGroups"]
    sizes: dict[str, int] = group["max"]
    return sizes


def test_storage_is_measured_again_after_a_write_or_a_delete(api: Api) -> None:
    headers = {"authorization": f"Bearer {api.token}"}
    base = f"/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces"
    namespace = api.client.post(base, json={"title": "measured"}, headers=headers).json()["result"]["id"]
    put = api.client.put(f"{base}/{namespace}/bulk", json=[{"key": "a", "value": "12345"}], headers=headers)
    assert put.status_code == 200
    assert _storage(api, namespace) == {"keyCount": 1, "byteCount": 6}
    more = [{"key": "b", "value": "123"}, {"key": "c", "value": "1"}]
    assert api.client.put(f"{base}/{namespace}/bulk", json=more, headers=headers).status_code == 200
    assert _storage(api, namespace) == {"keyCount": 3, "byteCount": 12}
    assert api.client.request("DELETE", f"{base}/{namespace}/values/a", headers=headers).status_code == 200
    assert _storage(api, namespace) == {"keyCount": 2, "byteCount": 6}


def test_a_token_without_account_analytics_read_may_not_query(api: Api) -> None:
    kv_only = api.token_with("Workers KV Storage Read")
    answer = api.post(OPERATIONS % "date", _window(), token=kv_only)
    assert answer.status_code == 403
    analytics = api.token_with("Account Analytics Read")
    assert api.post(OPERATIONS % "date", _window(), token=analytics).json()["errors"] is None


def test_backfill_needs_the_bootstrap_token(api: Api) -> None:
    other = api.token_with("Account Analytics Read")
    answer = api.client.put(
        "/__kvstack/usage/backfill", json={"operations": []}, headers={"authorization": f"Bearer {other}"}
    )
    assert answer.status_code == 403
