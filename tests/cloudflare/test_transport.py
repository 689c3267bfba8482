"""ResilientTransport: 429s after their Retry-After, 5xx with backoff, drops, what is never resent."""

from __future__ import annotations

import cloudflare
import httpx
import pytest

from kvstack.cloudflare import retry_after_seconds
from kvstack.errors import RateLimitedError
from tests.cloudflare.conftest import NS, adapter
from tests.fakecloudflare import ACCOUNT, FakeCloudflare, VirtualClock


def test_429_is_retried_after_exactly_its_retry_after(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["429:7"])
    with adapter(fake, clock) as api:
        assert api.get_namespace(NS) is not None
        spent = api.budget.snapshot()
    assert spent["api_requests"] == 2
    assert spent["retries"] == 1
    assert spent["rate_limited"] == 1
    assert clock.sleeps == [7.0], "the limiter waited out Retry-After, nothing more"


def test_server_errors_are_retried_with_backoff(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["500", "500"])
    with adapter(fake, clock) as api:
        assert api.get_namespace(NS) is not None
        spent = api.budget.snapshot()
    assert spent["api_requests"] == 3
    assert spent["server_errors"] == 2
    assert len(clock.sleeps) == 2
    first, second = clock.sleeps
    assert 0.125 <= first <= 0.25, "base 0.25 s with jitter"
    assert 0.25 <= second <= 0.5, "doubled"


@pytest.mark.parametrize("fault", ["drop", "drop-body"])
def test_dropped_connection_is_retried_for_reads(fake: FakeCloudflare, clock: VirtualClock, fault: str) -> None:
    fake.add_keys(NS, 5)
    fake.faults.extend([fault])
    with adapter(fake, clock) as api:
        values = api.bulk_get(NS, ["k000000", "k000004", "missing"])
        spent = api.budget.snapshot()
    assert values == {"k000000": "value-0", "k000004": "value-4", "missing": None}
    assert spent["connection_errors"] == 1
    assert spent["api_requests"] == 2
    assert spent["kv_reads"] == 3, "reads counted once, for the attempt that succeeded"


def test_a_create_is_not_resent_after_a_dropped_connection(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["drop"])
    with adapter(fake, clock) as api, pytest.raises(cloudflare.APIConnectionError):
        api.sdk.kv.namespaces.create(account_id=ACCOUNT, title="new")
    assert fake.requests == [("POST", f"/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces")]


def test_429_beyond_every_attempt_is_rate_limited_error(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["429:1"] * 10)
    with adapter(fake, clock, max_attempts=4) as api, pytest.raises(RateLimitedError) as caught:
        api.get_namespace(NS)
    assert len(fake.requests) == 4
    assert "HTTP 429: 971 Please wait" in str(caught.value)
    assert caught.value.exit_code == 2


def test_retry_after_longer_than_allowed_fails_at_once(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["429:3600"])
    with adapter(fake, clock, max_retry_wait=300) as api, pytest.raises(RateLimitedError, match="Retry-After 3600 s"):
        api.get_namespace(NS)
    assert len(fake.requests) == 1
    assert clock.sleeps == []


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds(httpx.Headers({"retry-after": "12"})) == 12.0
    assert retry_after_seconds(httpx.Headers({"retry-after": "0.5"})) == 0.5
    date = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(date, now=1445412480.0 - 30) == 30.0
    assert retry_after_seconds(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Headers()) is None
