"""The local Cloudflare's knobs through the admin route: seeded faults, the rate limit, eventual consistency,
and the request log (token ids, never values)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.local.api.conftest import ACCOUNT, Api, scoped_token

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-api")]


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
