"""The one error map: SDK status errors, an unreachable API, a wrong token, all typed and without tokens."""

from __future__ import annotations

import cloudflare
import httpx
import pytest

from kvstack.cloudflare import ApiSettings, connect
from kvstack.errors import AuthenticationError, CloudflareError, RateLimitedError
from tests.cloudflare.conftest import NS, adapter
from tests.fakecloudflare import ACCOUNT, TOKEN, FakeCloudflare, VirtualClock


def test_wrong_token_is_authentication_error_without_the_token(fake: FakeCloudflare, clock: VirtualClock) -> None:
    with adapter(fake, clock) as api:
        other = api.with_token("wrong-token-value-that-must-not-leak")
        with pytest.raises(AuthenticationError) as caught:
            other.get_namespace(NS)
    message = str(caught.value)
    assert f"GET /client/v4/accounts/{ACCOUNT}/storage/kv/namespaces/{NS} answered HTTP 401" in message
    assert "10000 Authentication error" in message
    assert "wrong-token-value" not in message
    assert TOKEN not in message
    assert len(fake.requests) == 1, "an authentication error is not retried"


def test_unreachable_api_says_where_it_looked(clock: VirtualClock) -> None:
    with FakeCloudflare() as server:
        url = server.base_url
    settings = ApiSettings(account_id=ACCOUNT, base_url=url, max_attempts=2)
    with connect(TOKEN, settings, sleep=clock.sleep) as api, pytest.raises(CloudflareError) as caught:
        api.get_namespace(NS)
    assert f"could not reach the Cloudflare API at {url}" in str(caught.value)
    assert "ConnectError" in str(caught.value)


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
