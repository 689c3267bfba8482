"""CloudflareApi's operations against the fake: paging, bulk get, writes, token verify, the worker pool bound."""

from __future__ import annotations

import threading

import pytest

from tests.cloudflare.conftest import NS, adapter
from tests.fakecloudflare import FakeCloudflare, VirtualClock


def test_missing_namespace_is_none_not_an_error(fake: FakeCloudflare, clock: VirtualClock) -> None:
    with adapter(fake, clock) as api:
        assert api.get_namespace("0" * 32) is None


def test_listing_continues_past_empty_pages_until_the_cursor_ends(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.add_keys(NS, 2500)
    fake.empty_pages_at = {1000, 2000}
    with adapter(fake, clock) as api:
        pages = list(api.list_key_pages(NS))
        spent = api.budget.snapshot()
    assert [len(p) for p in pages] == [1000, 0, 1000, 0, 500]
    assert spent["kv_lists"] == 5
    assert sum(len(p) for p in pages) == len({k.name for p in pages for k in p}) == 2500


def test_listing_asks_for_1000_keys_per_request(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.add_keys(NS, 10)
    with adapter(fake, clock) as api:
        api.list_keys(NS)
    assert len(fake.requests) == 1
    assert fake.requests[0][1].endswith("/keys")
    assert fake.queries[0]["limit"] == "1000"


def test_concurrent_bulk_gets_stay_within_the_bound(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.add_keys(NS, 1000)
    hold = threading.Event()
    fake.hold = hold
    with adapter(fake, clock, concurrency=3) as api:
        keys = sorted(fake.namespaces[NS].keys)
        futures = [api.submit_bulk_get(NS, keys[i : i + 100]) for i in range(0, 1000, 100)]
        threading.Timer(0.2, hold.set).start()
        results = [f.result() for f in futures]
        spent = api.budget.snapshot()
    assert sum(len(r) for r in results) == 1000
    assert fake.max_in_flight == 3
    assert spent["api_requests"] == 10
    assert spent["kv_reads"] == 1000


def test_bulk_get_refuses_more_than_100_keys(fake: FakeCloudflare, clock: VirtualClock) -> None:
    with adapter(fake, clock) as api, pytest.raises(ValueError, match="at most 100 keys"):
        api.bulk_get(NS, [f"k{n}" for n in range(101)])
    assert fake.requests == []


def test_writes_and_deletes_are_counted_per_key(fake: FakeCloudflare, clock: VirtualClock) -> None:
    with adapter(fake, clock) as api:
        api.put_value(NS, "charts:session:kvstack-smoke-1", "[]", ttl=60)
        entry = api.get_entry(NS, "charts:session:kvstack-smoke-1")
        api.delete_keys(NS, ["charts:session:kvstack-smoke-1", "other"])
        spent = api.budget.snapshot()
    assert entry is not None
    assert entry.expiration is not None, "the TTL asked for is the TTL stored"
    assert fake.paths()[0].endswith("/values/charts:session:kvstack-smoke-1")
    assert (spent["kv_writes"], spent["kv_reads"], spent["kv_deletes"]) == (1, 1, 2)


def test_token_verify_uses_the_tokens_own_credential(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.tokens["runtime-token-value-abcdefabcdefabcdefabcdef"] = {"id": "b" * 32, "status": "active"}
    with adapter(fake, clock) as api:
        result = api.with_token("runtime-token-value-abcdefabcdefabcdefabcdef").verify_token()
        spent = api.budget.snapshot()
    assert result["id"] == "b" * 32
    assert spent["api_requests"] == 1, "adapters made with with_token share the budget"
