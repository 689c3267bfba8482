"""RunGuard: a refused token or an API that cannot be reached ends the run at its first request; a deadline ends
retries. Real HTTP on loopback (tests/cloudflare/failing_apis.py, the fake); the deadline runs in virtual time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from kvstack.cloudflare import ApiSettings, CloudflareApi, connect
from kvstack.errors import AuthenticationError, CloudflareError
from tests.cloudflare.conftest import NS, adapter
from tests.cloudflare.failing_apis import ErrorApi, SilentApi, unused_port_url
from tests.fakecloudflare import ACCOUNT, TOKEN, FakeCloudflare, VirtualClock

TOKEN_ENV = "CLOUDFLARE_API_TOKEN"


def _connect(url: str, **settings: object) -> CloudflareApi:
    return connect(
        TOKEN,
        ApiSettings(account_id=ACCOUNT, base_url=url, token_source=TOKEN_ENV, **settings),  # type: ignore[arg-type]
        sleep=lambda _: None,
    )


def test_a_refused_token_ends_the_run_at_its_first_answer() -> None:
    with ErrorApi(401, 10000) as server, _connect(server.base_url) as api:
        with pytest.raises(AuthenticationError) as first:
            api.get_namespace(NS)
        with pytest.raises(AuthenticationError) as later:
            api.list_namespaces()
    message = str(first.value)
    assert f"the Cloudflare API at {server.base_url} refused the token from {TOKEN_ENV}" in message
    assert "answered HTTP 401: 10000 Authentication error" in message
    assert f"set {TOKEN_ENV} to a valid token" in message
    assert TOKEN not in message
    assert first.value.exit_code == 2
    assert api.fatal is first.value
    assert later.value is first.value, "every later request raises the run's one error"
    assert len(server.requests) == 1, "neither retried nor sent again"


@pytest.mark.parametrize("code", [10000, 9109])
def test_a_403_refusing_the_token_itself_ends_the_run(code: int) -> None:
    with ErrorApi(403, code, "Invalid access token") as server, _connect(server.base_url) as api:
        with pytest.raises(AuthenticationError, match=f"refused the token from {TOKEN_ENV}"):
            api.get_namespace(NS)
        with pytest.raises(AuthenticationError):
            api.get_namespace(NS)
    assert api.fatal is not None
    assert len(server.requests) == 1


def test_a_403_for_one_missing_permission_does_not_end_the_run() -> None:
    with ErrorApi(403, 10001, "permission denied") as server, _connect(server.base_url) as api:
        with pytest.raises(AuthenticationError, match="answered HTTP 403: 10001 permission denied"):
            api.get_namespace(NS)
        with pytest.raises(AuthenticationError):
            api.get_namespace(NS)
    assert api.fatal is None
    assert len(server.requests) == 2, "the next request still reaches the API"


def test_another_tokens_refusal_is_a_finding_not_the_end_of_the_run() -> None:
    with ErrorApi(401, 10000) as server, _connect(server.base_url) as api:
        with pytest.raises(AuthenticationError):
            api.with_token("a-revoked-runtime-token").verify_token()
        assert api.fatal is None, "a check's token being refused is that check's finding"
        with pytest.raises(AuthenticationError, match=f"refused the token from {TOKEN_ENV}"):
            api.get_namespace(NS)
    assert api.fatal is not None, "the run's own token is still judged at its first answer"


def test_a_token_verification_is_not_judged_the_next_request_is() -> None:
    with ErrorApi(401, 10000) as server, _connect(server.base_url) as api:
        with pytest.raises(AuthenticationError):
            api.verify_token()  # a user token is refused at the account's endpoint, then asked at the user's
        assert api.fatal is None
        with pytest.raises(AuthenticationError, match=f"refused the token from {TOKEN_ENV}"):
            api.get_namespace(NS)
    assert [path.rsplit("/", 2)[-2:] for _, path in server.requests] == [["tokens", "verify"]] * 2 + [
        ["namespaces", NS]
    ]


def test_an_unreachable_api_ends_the_run_at_its_first_request() -> None:
    url = unused_port_url()
    with _connect(url) as api:
        with pytest.raises(CloudflareError) as first:
            api.get_namespace(NS)
        with pytest.raises(CloudflareError) as later:
            api.list_namespaces()
        spent = api.budget.snapshot()
    message = str(first.value)
    assert f"could not reach the Cloudflare API at {url}" in message
    assert "ConnectError" in message
    assert "--api-url" in message
    assert TOKEN_ENV in message
    assert later.value is first.value
    assert (spent["api_requests"], spent["retries"]) == (1, 0), "one attempt, then nothing more goes out"


def test_an_api_that_never_answers_ends_the_run_after_the_first_answer_timeout() -> None:
    with (
        SilentApi() as server,
        _connect(server.base_url, first_answer_timeout=0.3, timeout=120) as api,
        ThreadPoolExecutor(1) as pool,
    ):
        first = pool.submit(api.get_namespace, NS)
        # A generous bound only, so a wait of the full 120 s request timeout fails here instead of hanging.
        with pytest.raises(CloudflareError, match="could not reach the Cloudflare API") as caught:
            first.result(timeout=30)
        with pytest.raises(CloudflareError):
            api.get_namespace(NS)
        spent = api.budget.snapshot()
    assert "ReadTimeout" in str(caught.value)
    assert server.connections == 1
    assert spent["api_requests"] == 1


def test_an_api_lost_after_its_first_answer_is_retried_not_the_end_of_the_run() -> None:
    server = ErrorApi(503, 7000, "Service unavailable").__enter__()
    settings = ApiSettings(account_id=ACCOUNT, base_url=server.base_url, max_attempts=3)
    # The API answers once (503), then is gone while the transport backs off: connections are refused.
    with connect(TOKEN, settings, sleep=lambda _: server.__exit__()) as api:
        with pytest.raises(CloudflareError, match=r"could not reach the Cloudflare API at .* after 3 attempts"):
            api.get_namespace(NS)
        spent = api.budget.snapshot()
    assert api.fatal is None
    assert (spent["server_errors"], spent["connection_errors"], spent["retries"]) == (1, 2, 2)


def test_retries_stop_at_the_run_deadline(fake: FakeCloudflare, clock: VirtualClock) -> None:
    fake.faults.extend(["500"] * 20)
    started = clock.now
    with adapter(fake, clock, deadline=5.0, max_attempts=20) as api:
        with pytest.raises(
            CloudflareError, match=r"the run's deadline of 5 s passed while GET .* kept failing \(HTTP 500"
        ) as caught:
            api.get_namespace(NS)
        sent = len(fake.requests)
        with pytest.raises(CloudflareError):
            api.get_namespace(NS)
    assert "--timeout (KVSTACK_TIMEOUT)" in str(caught.value)
    assert clock.now - started <= 5.0, "no wait goes past the deadline"
    assert 2 <= sent < 20
    assert len(fake.requests) == sent, "after the deadline nothing more goes out"
    assert api.fatal is caught.value


def test_a_retry_after_past_the_deadline_ends_the_run_without_waiting(
    fake: FakeCloudflare, clock: VirtualClock
) -> None:
    fake.faults.extend(["429:30"])
    with adapter(fake, clock, deadline=10.0) as api, pytest.raises(CloudflareError, match="deadline of 10 s passed"):
        api.get_namespace(NS)
    assert clock.sleeps == []
    assert len(fake.requests) == 1


def test_the_deadline_ends_the_run_between_requests_too(fake: FakeCloudflare, clock: VirtualClock) -> None:
    with adapter(fake, clock, deadline=10.0) as api:
        assert api.get_namespace(NS) is not None
        assert api.run_ended() is None
        clock.sleep(10.5)
        ended = api.run_ended()
        with pytest.raises(CloudflareError) as caught:
            api.get_namespace(NS)
    assert ended is not None
    assert "the run's deadline of 10 s passed" in str(ended)
    assert caught.value is ended
    assert len(fake.requests) == 1
