"""API tokens through the strict SDK (sync and async): create, verify, list, update (policies really change),
roll, delete; deny policies and IP conditions enforced; bad bodies refused before anything is stored.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from kvstack.permissions import account_resource, group_by_name
from tests.local.api.conftest import (
    ACCOUNT,
    OTHER_ACCOUNT,
    Api,
    Sdk,
    answer_error,
    create_token,
    scoped_token,
    token_body,
)

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-api")]


def group(name: str) -> dict[str, str]:
    found = group_by_name(name)
    assert found is not None
    return {"id": found.id}


def policy(effect: str, *groups: str) -> dict[str, Any]:
    return {
        "effect": effect,
        "permission_groups": [group(g) for g in groups],
        "resources": {account_resource(ACCOUNT): "*"},
    }


def test_tokens_create_verify_list_get_delete(sdk: Sdk) -> None:
    value = scoped_token(sdk.api, "Workers KV Storage Read")
    verified = sdk.with_token(value)(lambda c: c.accounts.tokens.verify(account_id=ACCOUNT))
    assert verified.status == "active"
    listed = {t.id: t for t in sdk(lambda c: c.accounts.tokens.list(account_id=ACCOUNT, per_page=50))}
    assert verified.id in listed
    details = sdk(lambda c: c.accounts.tokens.get(verified.id, account_id=ACCOUNT))
    assert [g.name for p in details.policies or [] for g in p.permission_groups] == ["Workers KV Storage Read"]
    assert value not in httpx.get(f"{sdk.api.base}/accounts/{ACCOUNT}/tokens", headers=sdk.api.auth()).text
    sdk(lambda c: c.accounts.tokens.delete(verified.id, account_id=ACCOUNT))
    assert sdk.with_token(value).error(lambda c: c.kv.namespaces.list(account_id=ACCOUNT)) == (401, 10000)
    groups = {g.name for g in sdk(lambda c: c.accounts.tokens.permission_groups.list(account_id=ACCOUNT))}
    assert {"Workers KV Storage Read", "Pages Write"} <= groups
    assert sdk(lambda c: c.user.tokens.verify()).status == "active"
    assert sdk(lambda c: c.accounts.get(account_id=ACCOUNT)).id == ACCOUNT
    assert sdk(lambda c: c.user.get()) is not None
    assert ACCOUNT in [a.id for a in sdk(lambda c: c.accounts.list())]
    assert len(sdk(lambda c: c.memberships.list())) == 1


@pytest.mark.parametrize("form", ["account", "user"])
def test_update_really_replaces_the_policies(sdk: Sdk, namespace: str, form: str) -> None:
    body = token_body("Workers KV Storage Read")
    if form == "account":
        created = create_token(sdk.api, body)
        tokens = lambda c: c.accounts.tokens  # noqa: E731
        scope: dict[str, Any] = {"account_id": ACCOUNT}
    else:
        created = httpx.post(f"{sdk.api.base}/user/tokens", json=body, headers=sdk.api.auth()).json()["result"]
        tokens = lambda c: c.user.tokens  # noqa: E731
        scope = {}
    caller = sdk.with_token(created["value"])
    write = lambda c: c.kv.namespaces.values.update("k", account_id=ACCOUNT, namespace_id=namespace, value=b"v")  # noqa: E731
    assert caller.error(write) == (403, 10000)
    updated = sdk(
        lambda c: tokens(c).update(
            created["id"], **scope, name="now-writer", policies=[policy("allow", "Workers KV Storage Write")]
        )
    )
    assert [g.name for p in updated.policies or [] for g in p.permission_groups] == ["Workers KV Storage Write"]
    caller(write)
    sdk(
        lambda c: tokens(c).update(
            created["id"],
            **scope,
            name="now-denied",
            policies=[policy("allow", "Workers KV Storage Write"), policy("deny", "Workers KV Storage Write")],
        )
    )
    assert caller.error(write) == (403, 10000)


def test_deny_policies_take_away_what_allow_policies_grant(sdk: Sdk, namespace: str) -> None:
    body = token_body()
    body["policies"] = [policy("allow", "Workers KV Storage Write"), policy("deny", "Workers KV Storage Write")]
    caller = sdk.with_token(create_token(sdk.api, body)["value"])
    write = lambda c: c.kv.namespaces.values.update("k", account_id=ACCOUNT, namespace_id=namespace, value=b"v")  # noqa: E731
    assert caller.error(write) == (403, 10000)
    assert caller.error(lambda c: c.kv.namespaces.list(account_id=ACCOUNT)) == (403, 10000)
    body["policies"] = [policy("allow", "Workers KV Storage Write"), policy("deny", "Pages Write")]
    sdk.with_token(create_token(sdk.api, body)["value"])(write)


def test_roll_gives_a_new_value_and_the_old_one_stops_working(sdk: Sdk) -> None:
    created = create_token(sdk.api, token_body("Account Settings Read"))
    new = sdk(lambda c: c.accounts.tokens.value.update(created["id"], account_id=ACCOUNT))
    assert isinstance(new, str)
    assert new != created["value"]
    assert sdk.with_token(new)(lambda c: c.accounts.get(account_id=ACCOUNT)).id == ACCOUNT
    assert sdk.with_token(created["value"]).error(lambda c: c.accounts.get(account_id=ACCOUNT)) == (401, 10000)
    user = httpx.post(f"{sdk.api.base}/user/tokens", json=token_body("Account Settings Read"), headers=sdk.api.auth())
    rolled = sdk(lambda c: c.user.tokens.value.update(user.json()["result"]["id"]))
    assert sdk.with_token(rolled)(lambda c: c.accounts.get(account_id=ACCOUNT)).id == ACCOUNT


@pytest.mark.parametrize(
    ("condition", "allowed"),
    [
        ({"request.ip": {"in": ["10.0.0.0/8"]}}, False),
        ({"request.ip": {"not_in": ["127.0.0.0/8"]}}, False),
        ({"request.ip": {"in": ["127.0.0.0/8"], "not_in": ["127.0.0.1/32"]}}, False),
        ({"request_ip": {"in": ["10.0.0.0/8"]}}, False),
        ({"request.ip": {"in": ["127.0.0.1"]}}, True),
        ({"request.ip": {"in": ["10.0.0.0/8", "127.0.0.0/8"], "not_in": ["10.1.0.0/16"]}}, True),
    ],
)
def test_ip_conditions_are_enforced_on_the_client_address(api: Api, condition: dict[str, Any], allowed: bool) -> None:
    created = create_token(api, token_body("Account Settings Read", condition=condition))
    spoofed = {**api.auth(created["value"]), "X-Forwarded-For": "10.0.0.1", "CF-Connecting-IP": "10.0.0.1"}
    for path in (f"/accounts/{ACCOUNT}", f"/accounts/{ACCOUNT}/tokens/verify"):
        answer = httpx.get(f"{api.base}{path}", headers=spoofed)
        if allowed:
            assert answer.status_code == 200, answer.text
        else:
            assert answer_error(answer) == (403, 9109), answer.text
    shown = api.sdk().accounts.tokens.get(created["id"], account_id=ACCOUNT)
    assert shown.condition is not None
    assert shown.condition.request_ip is not None


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("expires-date-only", {"expires_on": "2027-11-30"}),
        ("expires-garbage", {"expires_on": "soon"}),
        ("not-before-no-zone", {"not_before": "2027-11-30T00:00:00"}),
        ("groups-number", {"policies": [{"effect": "allow", "permission_groups": 5, "resources": {"a": "*"}}]}),
        (
            "groups-unknown",
            {"policies": [{"effect": "allow", "permission_groups": [{"id": "x"}], "resources": {"a": "*"}}]},
        ),
        ("resources-not-json", {"policies": [policy("allow", "Pages Read") | {"resources": "not json"}]}),
        ("resources-empty", {"policies": [policy("allow", "Pages Read") | {"resources": {}}]}),
        ("effect-grant", {"policies": [policy("allow", "Pages Read") | {"effect": "grant"}]}),
        ("no-policies", {"policies": []}),
        ("name-121", {"name": "n" * 121}),
        ("name-object", {"name": {"a": 1}}),
        ("condition-not-cidr", {"condition": {"request.ip": {"in": ["not a cidr"]}}}),
    ],
)
def test_bad_token_bodies_are_400_and_never_stored(api: Api, case: str, change: dict[str, Any]) -> None:
    url = f"{api.base}/accounts/{ACCOUNT}/tokens"
    before = httpx.get(url, params={"per_page": 50}, headers=api.auth()).json()["result_info"]["total_count"]
    answer = httpx.post(url, json=token_body("Pages Read") | change, headers=api.auth())
    assert answer_error(answer) == (400, 10002), f"{case}: {answer.text}"
    after = httpx.get(url, params={"per_page": 50}, headers=api.auth())
    assert after.status_code == 200, after.text
    assert after.json()["result_info"]["total_count"] == before


@pytest.mark.parametrize(("per_page", "status"), [(4, 400), (5, 200), (50, 200), (51, 400), ("x", 400)])
def test_token_list_per_page_is_5_to_50(api: Api, per_page: object, status: int) -> None:
    answer = httpx.get(f"{api.base}/accounts/{ACCOUNT}/tokens", params={"per_page": per_page}, headers=api.auth())
    assert answer.status_code == status, answer.text


def test_tokens_of_other_scopes_accounts_or_expired_are_refused(sdk: Sdk) -> None:
    api = sdk.api
    pages_only = sdk.with_token(scoped_token(api, "Pages Read"))
    assert pages_only.error(lambda c: c.kv.namespaces.list(account_id=ACCOUNT)) == (403, 10000)
    elsewhere = sdk.with_token(scoped_token(api, "Workers KV Storage Read", account=OTHER_ACCOUNT))
    assert elsewhere.error(lambda c: c.kv.namespaces.list(account_id=ACCOUNT)) == (403, 10000)
    expired = sdk.with_token(scoped_token(api, "Workers KV Storage Read", expires_on="2020-01-01T00:00:00Z"))
    assert expired.error(lambda c: c.kv.namespaces.list(account_id=ACCOUNT)) == (401, 10000)
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = httpx.get(f"{api.base}/accounts/{ACCOUNT}/storage/kv/namespaces", headers=headers)
        assert answer_error(answer) == (401, 10000)


def test_read_only_token_reads_but_every_write_is_403(sdk: Sdk, namespace: str) -> None:
    sdk(lambda c: c.kv.namespaces.values.update("seed", account_id=ACCOUNT, namespace_id=namespace, value=b"v"))
    reader = sdk.with_token(scoped_token(sdk.api, "Workers KV Storage Read"))
    assert (
        reader.api.sdk(reader.token).kv.namespaces.values.get("seed", account_id=ACCOUNT, namespace_id=namespace).text()
        == "v"
    )
    writes = (
        lambda c: c.kv.namespaces.create(account_id=ACCOUNT, title=f"ro-{uuid.uuid4().hex[:6]}"),
        lambda c: c.kv.namespaces.update(namespace, account_id=ACCOUNT, title="renamed"),
        lambda c: c.kv.namespaces.delete(namespace, account_id=ACCOUNT),
        lambda c: c.kv.namespaces.values.update("k", account_id=ACCOUNT, namespace_id=namespace, value=b"v"),
        lambda c: c.kv.namespaces.values.delete("seed", account_id=ACCOUNT, namespace_id=namespace),
        lambda c: c.kv.namespaces.bulk_update(namespace, account_id=ACCOUNT, body=[{"key": "k", "value": "v"}]),
        lambda c: c.kv.namespaces.bulk_delete(namespace, account_id=ACCOUNT, body=["seed"]),
    )
    for write in writes:
        assert reader.error(write) == (403, 10000)
    assert json.loads(json.dumps(sdk(lambda c: c.kv.namespaces.get(namespace, account_id=ACCOUNT)).id)) == namespace
