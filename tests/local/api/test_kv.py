"""KV namespace routes and key listing, through the pinned SDK in strict response validation (sync and async)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.local.api.conftest import ACCOUNT, Api, Sdk, answer_error

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-api")]


def test_namespace_lifecycle_with_unique_titles(api: Api, sdk: Sdk) -> None:
    title = f"life-{uuid.uuid4().hex[:8]}"
    created = sdk(lambda c: c.kv.namespaces.create(account_id=ACCOUNT, title=title))
    assert sdk(lambda c: c.kv.namespaces.get(created.id, account_id=ACCOUNT)).title == title
    assert sdk.error(lambda c: c.kv.namespaces.create(account_id=ACCOUNT, title=title)) == (400, 10014)
    other = sdk(lambda c: c.kv.namespaces.create(account_id=ACCOUNT, title=title + "-other"))
    assert sdk.error(lambda c: c.kv.namespaces.update(other.id, account_id=ACCOUNT, title=title)) == (400, 10014)
    renamed = sdk(lambda c: c.kv.namespaces.update(created.id, account_id=ACCOUNT, title=title + "-renamed"))
    assert (renamed.id, renamed.title) == (created.id, title + "-renamed")
    titles = {ns.id: ns.title for ns in sdk(lambda c: c.kv.namespaces.list(account_id=ACCOUNT, per_page=5))}
    assert titles[created.id] == title + "-renamed"
    sdk(lambda c: c.kv.namespaces.values.update("k", account_id=ACCOUNT, namespace_id=created.id, value=b"v"))
    sdk(lambda c: c.kv.namespaces.delete(created.id, account_id=ACCOUNT))
    assert sdk.error(lambda c: c.kv.namespaces.get(created.id, account_id=ACCOUNT)) == (404, 10013)
    leftover = httpx.get(f"{api.storage_url}/cdn-cgi/explorer/api/storage/kv/namespaces/{created.id}/keys").json()
    assert leftover["result"] == []


def test_jurisdiction_is_stored_and_echoed(sdk: Sdk) -> None:
    title = f"eu-{uuid.uuid4().hex[:8]}"
    created = sdk(lambda c: c.kv.namespaces.create(account_id=ACCOUNT, title=title, jurisdiction="eu"))
    assert created.jurisdiction == "eu"
    assert sdk(lambda c: c.kv.namespaces.get(created.id, account_id=ACCOUNT)).jurisdiction == "eu"
    listed = {ns.id: ns for ns in sdk(lambda c: c.kv.namespaces.list(account_id=ACCOUNT, per_page=100))}
    assert listed[created.id].jurisdiction == "eu"
    plain = sdk(lambda c: c.kv.namespaces.create(account_id=ACCOUNT, title=title + "-plain"))
    assert plain.jurisdiction is None
    answer = httpx.post(
        f"{sdk.api.base}/accounts/{ACCOUNT}/storage/kv/namespaces",
        json={"title": title + "-mars", "jurisdiction": "mars"},
        headers=sdk.api.auth(),
    )
    assert answer_error(answer) == (400, 10002)


def test_unknown_namespace_is_10013_on_every_kv_route(sdk: Sdk) -> None:
    missing = uuid.uuid4().hex
    for call in (
        lambda c: c.kv.namespaces.keys.list(missing, account_id=ACCOUNT),
        lambda c: c.kv.namespaces.values.get("k", account_id=ACCOUNT, namespace_id=missing),
        lambda c: c.kv.namespaces.metadata.get("k", account_id=ACCOUNT, namespace_id=missing),
        lambda c: c.kv.namespaces.bulk_get(missing, account_id=ACCOUNT, keys=["k"]),
        lambda c: c.kv.namespaces.bulk_update(missing, account_id=ACCOUNT, body=[{"key": "k", "value": "v"}]),
        lambda c: c.kv.namespaces.bulk_delete(missing, account_id=ACCOUNT, body=["k"]),
    ):
        assert sdk.error(call) == (404, 10013)


def test_key_listing_pages_with_cursor_and_prefix(sdk: Sdk, namespace: str) -> None:
    body = [{"key": f"page:{i:02d}", "value": str(i)} for i in range(25)] + [{"key": "other", "value": "x"}]
    sdk(lambda c: c.kv.namespaces.bulk_update(namespace, account_id=ACCOUNT, body=body))
    names = [k.name for k in sdk(lambda c: c.kv.namespaces.keys.list(namespace, account_id=ACCOUNT, prefix="page:"))]
    assert names == [f"page:{i:02d}" for i in range(25)]
    url = f"{sdk.api.base}/accounts/{ACCOUNT}/storage/kv/namespaces/{namespace}/keys"
    cursor, pages = "", 0
    while True:
        params = {"limit": 10, "prefix": "page:", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(url, params=params, headers=sdk.api.auth()).json()
        cursor, pages = page["result_info"]["cursor"], pages + 1
        if not cursor:
            break
    assert pages == 3


@pytest.mark.parametrize("cursor", ["not-a-cursor!", "%%%", "AAAA", "eyJ4IjoxfQ"])
def test_a_malformed_cursor_is_an_error_not_an_empty_page(api: Api, namespace: str, cursor: str) -> None:
    url = f"{api.base}/accounts/{ACCOUNT}/storage/kv/namespaces/{namespace}/keys"
    httpx.put(f"{url[:-5]}/bulk", json=[{"key": "a", "value": "1"}], headers=api.auth())
    assert answer_error(httpx.get(url, params={"cursor": cursor}, headers=api.auth())) == (400, 10021)


@pytest.mark.parametrize(("limit", "status"), [(9, 400), (1001, 400), ("ten", 400), (10, 200), (1000, 200)])
def test_key_list_limit_is_10_to_1000_with_code_10020(api: Api, namespace: str, limit: object, status: int) -> None:
    answer = httpx.get(
        f"{api.base}/accounts/{ACCOUNT}/storage/kv/namespaces/{namespace}/keys",
        params={"limit": limit},
        headers=api.auth(),
    )
    assert answer.status_code == status
    if status == 400:
        assert answer_error(answer) == (400, 10020)
