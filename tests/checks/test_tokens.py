"""Token checks: revoked, expiring, over-privileged and cross-account tokens each fail their own check."""

from __future__ import annotations

import time

from .conftest import DAY, World, _iso


def _token(world: World, key: str) -> tuple[str, str]:
    return world.document["tokens"][key]["id"], world.values[key]


def test_token_with_an_extra_permission_fails_exactly_that_check(world: World) -> None:
    token_id, _ = _token(world, "chatchonk-api-runtime")
    policy = world.fake.token_details[token_id]["policies"][0]
    policy["permission_groups"].append({"id": "e086da7e2179491d91ee5f35b3ca210a", "name": "Workers Scripts Write"})
    outcome = world.run("tokens")
    failures = world.failures(outcome)
    assert list(failures) == ["test_token_holds_exactly_the_declared_permissions[chatchonk-api-runtime]"]
    message = failures["test_token_holds_exactly_the_declared_permissions[chatchonk-api-runtime]"]
    assert message.startswith("token chatchonk-api-runtime (kvstack-dev-chatchonk-api-runtime, id ")
    assert "expected exactly the permission groups ['Workers KV Storage Write']" in message
    assert message.endswith("— extra: Workers Scripts Write")


def test_unnamed_permission_group_is_resolved_by_id(world: World) -> None:
    token_id, _ = _token(world, "audit")
    groups = world.fake.token_details[token_id]["policies"][0]["permission_groups"]
    groups[0] = {"id": groups[0]["id"]}
    assert world.failures(world.run("tokens")) == {}


def test_token_about_to_expire_fails_the_expiry_check(world: World) -> None:
    token_id, value = _token(world, "deploy")
    soon = _iso(time.time() + 3 * DAY + 600)
    world.fake.tokens[value]["expires_on"] = soon
    world.fake.token_details[token_id]["expires_on"] = soon
    outcome = world.run("tokens")
    failures = world.failures(outcome)
    assert list(failures) == ["test_token_expiry_is_far_enough[deploy]"]
    assert (
        f"expected an expiry at least 14 days away; found {soon.replace('Z', '+00:00')} (3 days left)"
        in (failures["test_token_expiry_is_far_enough[deploy]"])
    )


def test_expiry_margin_is_configurable(world: World) -> None:
    _, value = _token(world, "deploy")
    world.fake.tokens[value]["expires_on"] = _iso(time.time() + 3 * DAY + 600)
    assert world.failures(world.run("tokens", expiry_days=2)) == {}


def test_revoked_token_is_a_failure_not_a_configuration_error(world: World) -> None:
    _, value = _token(world, "audit")
    del world.fake.tokens[value]
    outcome = world.run("tokens")
    failures = world.failures(outcome)
    assert list(failures) == ["test_token_verifies_as_active[audit]"]
    assert (
        "expected status 'active' from /user/tokens/verify; found 'rejected: HTTP 401, codes [10000]'"
        in (failures["test_token_verifies_as_active[audit]"])
    )
    assert outcome.exit_code == 1


def test_token_scoped_to_another_account_fails(world: World) -> None:
    token_id, _ = _token(world, "deploy")
    world.fake.token_details[token_id]["policies"][0]["resources"] = {"com.cloudflare.api.account.*": "*"}
    failures = world.failures(world.run("tokens"))
    assert list(failures) == ["test_token_is_scoped_to_this_account_only[deploy]"]
    assert "found ['com.cloudflare.api.account.*']" in failures["test_token_is_scoped_to_this_account_only[deploy]"]


def test_token_also_scoped_to_another_account_fails(world: World) -> None:
    token_id, _ = _token(world, "audit")
    resources = world.fake.token_details[token_id]["policies"][0]["resources"]
    resources["com.cloudflare.api.account." + "f" * 32] = "*"
    failures = world.failures(world.run("tokens"))
    assert list(failures) == ["test_token_is_scoped_to_this_account_only[audit]"]


def test_token_values_never_reach_the_report(world: World) -> None:
    token_id, _ = _token(world, "deploy")
    world.fake.token_details[token_id]["policies"][0]["resources"] = {}
    world.run("tokens")
    text = (world.reports / "report-1.json").read_text() + (world.reports / "report-1.xml").read_text()
    for secret in world.values.values():
        assert secret not in text
