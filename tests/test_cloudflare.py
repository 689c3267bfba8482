"""The Cloudflare adapter against a fake Cloudflare on loopback: retries, rate limit, budget, paging, errors.

Time is virtual (``VirtualClock``): waits are recorded, never slept, so nothing here depends on the wall clock.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import cloudflare
import httpx
import pytest

from kvstack.cloudflare import ApiSettings, Budget, CloudflareApi, RateLimiter, connect, retry_after_seconds
from kvstack.errors import AuthenticationError, CloudflareError, RateLimitedError

from .fakecloudflare import ACCOUNT, TOKEN, FakeCloudflare, VirtualClock

NS = "f" * 32


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare() as server:
        server.add_keys(NS, 0)
        yield server


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def _api(fake: FakeCloudflare, clock: VirtualClock, **settings: object) -> CloudflareApi:
    limiter = RateLimiter(
        int(settings.pop("rate_limit", 1200)),  # type: ignore[call-overload]
        float(settings.pop("rate_window", 300.0)),  # type: ignore[arg-type]
        clock=clock.clock,
        sleep=clock.sleep,
    )
    return connect(
        TOKEN,
        ApiSettings(account_id=ACCOUNT, base_url=fake.base_url, **settings),  # type: ignore[arg-type]
        limiter=limiter,
        sleep=clock.sleep,
        rng=random.Random(7),
    )


def test_429_is_retried_after_exactly_its_retry_after(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["429:7"])
    with _api(fake, clock) as api:
        assert api.get_namespace(NS) is not None
        spent = api.budget.snapshot()
    assert spent["api_requests"] == 2
    assert spent["retries"] == 1
    assert spent["rate_limited"] == 1
    assert clock.sleeps == [7.0], "the limiter waited out Retry-After, nothing more"


def test_a_pause_delays_the_next_request_of_any_caller(clock: VirtualClock) -> None:
    limiter = RateLimiter(100, 300, clock=clock.clock, sleep=clock.sleep)
    limiter.pause(30)
    assert limiter.acquire() == pytest.approx(30.0)
    limiter.pause(10)
    limiter.pause(5)
    assert limiter.acquire() == pytest.approx(10.0), "the longer pause wins"
    assert limiter.acquire() == 0.0


def test_server_errors_are_retried_with_backoff(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["500", "500"])
    with _api(fake, clock) as api:
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
    with _api(fake, clock) as api:
        values = api.bulk_get(NS, ["k000000", "k000004", "missing"])
        spent = api.budget.snapshot()
    assert values == {"k000000": "value-0", "k000004": "value-4", "missing": None}
    assert spent["connection_errors"] == 1
    assert spent["api_requests"] == 2
    assert spent["kv_reads"] == 3, "reads counted once, for the attempt that succeeded"


def test_a_create_is_not_resent_after_a_dropped_connection(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["drop"])
    with _api(fake, clock) as api, pytest.raises(cloudflare.APIConnectionError):
        api.sdk.kv.namespaces.create(account_id=ACCOUNT, title="new")
    assert fake.requests == [("POST", f"/client/v4/accounts/{ACCOUNT}/storage/kv/namespaces")]


def test_429_beyond_every_attempt_is_rate_limited_error(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["429:1"] * 10)
    with _api(fake, clock, max_attempts=4) as api, pytest.raises(RateLimitedError) as caught:
        api.get_namespace(NS)
    assert len(fake.requests) == 4
    assert "HTTP 429: 971 Please wait" in str(caught.value)
    assert caught.value.exit_code == 2


def test_retry_after_longer_than_allowed_fails_at_once(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["429:3600"])
    with _api(fake, clock, max_retry_wait=300) as api, pytest.raises(RateLimitedError, match="Retry-After 3600 s"):
        api.get_namespace(NS)
    assert len(fake.requests) == 1
    assert clock.sleeps == []


def test_wrong_token_is_authentication_error_without_the_token(fake: FakeCloudflare, clock: VirtualClock) -> None:
    with _api(fake, clock) as api:
        other = api.with_token("wrong-token-value-that-must-not-leak")
        with pytest.raises(AuthenticationError) as caught:
            other.get_namespace(NS)
    message = str(caught.value)
    assert f"GET /client/v4/accounts/{ACCOUNT}/storage/kv/namespaces/{NS} answered HTTP 401" in message
    assert "10000 Authentication error" in message
    assert "wrong-token-value" not in message
    assert TOKEN not in message
    assert len(fake.requests) == 1, "an authentication error is not retried"


def test_missing_namespace_is_none_not_an_error(fake: FakeCloudflare, clock: VirtualClock) -> None:
    with _api(fake, clock) as api:
        assert api.get_namespace("0" * 32) is None


def test_unreachable_api_says_where_it_looked(clock: VirtualClock) -> None:
    with FakeCloudflare() as server:
        url = server.base_url
    settings = ApiSettings(account_id=ACCOUNT, base_url=url, max_attempts=2)
    with connect(TOKEN, settings, sleep=clock.sleep) as api, pytest.raises(CloudflareError) as caught:
        api.get_namespace(NS)
    assert f"could not reach the Cloudflare API at {url}" in str(caught.value)
    assert "ConnectError" in str(caught.value)


def test_listing_continues_past_empty_pages_until_the_cursor_ends(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.add_keys(NS, 2500)
    fake.empty_pages_at = {1000, 2000}
    with _api(fake, clock) as api:
        pages = list(api.list_key_pages(NS))
        spent = api.budget.snapshot()
    assert [len(p) for p in pages] == [1000, 0, 1000, 0, 500]
    assert spent["kv_lists"] == 5
    assert sum(len(p) for p in pages) == len({k.name for p in pages for k in p}) == 2500


def test_listing_asks_for_1000_keys_per_request(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.add_keys(NS, 10)
    with _api(fake, clock) as api:
        api.list_keys(NS)
    assert len(fake.requests) == 1
    assert fake.requests[0][1].endswith("/keys")
    assert fake.queries[0]["limit"] == "1000"


def test_concurrent_bulk_gets_stay_within_the_bound(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.add_keys(NS, 1000)
    hold = threading.Event()
    fake.hold = hold
    with _api(fake, clock, concurrency=3) as api:
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
    with _api(fake, clock) as api, pytest.raises(ValueError, match="at most 100 keys"):
        api.bulk_get(NS, [f"k{n}" for n in range(101)])
    assert fake.requests == []


def test_rate_limiter_spreads_a_burst_over_the_window(clock: VirtualClock) -> None:
    limiter = RateLimiter(3, 10.0, clock=clock.clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(7)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(10.0)
    assert clock.now == pytest.approx(1020.0), "7 requests at 3 per 10 s need two full windows"


def test_writes_and_deletes_are_counted_per_key(fake: FakeCloudflare, clock: VirtualClock) -> None:
    with _api(fake, clock) as api:
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
    with _api(fake, clock) as api:
        result = api.with_token("runtime-token-value-abcdefabcdefabcdefabcdef").verify_token()
        spent = api.budget.snapshot()
    assert result["id"] == "b" * 32
    assert spent["api_requests"] == 1, "adapters made with with_token share the budget"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, CloudflareError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, CloudflareError),
        (409, CloudflareError),
        (422, CloudflareError),
        (429, RateLimitedError),
        (500, CloudflareError),
        (503, CloudflareError),
    ],
)
def test_every_sdk_status_error_maps_to_a_kvstack_error(status: int, error: type[CloudflareError]) -> None:
    from kvstack.cloudflare import status_error

    request = httpx.Request("GET", "http://x/client/v4/accounts/a/thing")
    response = httpx.Response(status, json={"success": False, "errors": [{"code": 1, "message": "m"}]}, request=request)
    sdk_error = cloudflare.APIStatusError("boom", response=response, body=None)
    mapped = status_error("do a thing", sdk_error)
    assert type(mapped) is error
    assert mapped.status == status
    assert mapped.codes == (1,)
    assert str(mapped).startswith(f"do a thing: GET /client/v4/accounts/a/thing answered HTTP {status}: 1 m")


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds(httpx.Headers({"retry-after": "12"})) == 12.0
    assert retry_after_seconds(httpx.Headers({"retry-after": "0.5"})) == 0.5
    date = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(date, now=1445412480.0 - 30) == 30.0
    assert retry_after_seconds(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Headers()) is None


def test_budget_counts_only_successful_kv_operations() -> None:
    budget = Budget()
    request = httpx.Request("POST", f"http://x/accounts/{ACCOUNT}/storage/kv/namespaces/{NS}/bulk/get")
    budget.count_kv(request, b'{"keys": ["a", "b"]}')
    budget.count_kv(httpx.Request("GET", f"http://x/accounts/{ACCOUNT}/storage/kv/namespaces/{NS}/keys"), b"")
    budget.count_kv(httpx.Request("GET", f"http://x/accounts/{ACCOUNT}/pages/projects/p"), b"")
    assert budget.snapshot()["kv_reads"] == 2
    assert budget.snapshot()["kv_lists"] == 1


def test_a_failed_kv_request_spends_a_request_but_no_kv_operation(fake: FakeCloudflare, clock: VirtualClock) -> None:
    with _api(fake, clock) as api, pytest.raises(CloudflareError, match="HTTP 404: 10013 namespace not found"):
        api.bulk_get("0" * 32, ["a", "b"])
    assert api.budget.snapshot()["api_requests"] == 1
    assert api.budget.snapshot()["kv_reads"] == 0
