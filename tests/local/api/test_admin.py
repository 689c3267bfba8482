"""kvstack's admin routes: the bootstrap token by id (never by name), validated knobs and request-log queries."""

from __future__ import annotations

import httpx
import pytest

from kvstack.local.api.admin import BOOTSTRAP_TOKEN_NAME
from kvstack.permissions import PERMISSION_GROUPS, account_resource
from tests.local.api.conftest import ACCOUNT, Api, answer_error, create_token, scoped_token

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-api")]


def test_a_token_named_like_the_bootstrap_token_is_not_admin(api: Api) -> None:
    every_group = [{"id": g.id} for g in PERMISSION_GROUPS if g.scope == "com.cloudflare.api.account"]
    impostor = create_token(
        api,
        {
            "name": BOOTSTRAP_TOKEN_NAME,
            "policies": [
                {"effect": "allow", "permission_groups": every_group, "resources": {account_resource(ACCOUNT): "*"}}
            ],
        },
    )
    admin_routes = (
        ("GET", "/__kvstack/knobs"),
        ("PUT", "/__kvstack/knobs"),
        ("GET", "/__kvstack/requests"),
        ("PUT", "/__kvstack/usage/backfill"),
    )
    for method, path in admin_routes:
        answer = httpx.request(method, f"{api.url}{path}", json={}, headers=api.auth(impostor["value"]))
        assert answer_error(answer) == (403, 10000)
    admin = httpx.get(f"{api.url}/__kvstack/knobs", headers=api.auth(scoped_token(api, "Workers KV Storage Write")))
    assert answer_error(admin) == (403, 10000)
    assert httpx.get(f"{api.url}/__kvstack/knobs", headers=api.auth()).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("GET", "/__kvstack/requests", {"since": "abc"}, None),
        ("GET", "/__kvstack/requests", {"since": "-1"}, None),
        ("PUT", "/__kvstack/knobs", {}, {"latency_ms": "slow"}),
        ("PUT", "/__kvstack/knobs", {}, {"latency_ms": 10**12}),
        ("PUT", "/__kvstack/knobs", {}, {"consistency_delay": "Infinity"}),
        ("PUT", "/__kvstack/knobs", {}, {"faults": "500=2"}),
        ("PUT", "/__kvstack/knobs", {}, {"rate_limit": "0/0"}),
        ("PUT", "/__kvstack/knobs", {}, [1]),
        ("PUT", "/__kvstack/scripts/x", {}, {"bindings": [1]}),
        ("PUT", "/__kvstack/scripts/x", {}, {"bindings": "KV"}),
    ],
)
def test_bad_admin_requests_are_400(api: Api, method: str, path: str, query: dict[str, str], body: object) -> None:
    answer = httpx.request(method, f"{api.url}{path}", params=query, json=body, headers=api.auth())
    assert answer_error(answer) == (400, 10002), answer.text
    assert api.app.context.knobs.latency_ms == 0
