"""Tokens: each declared token is active, expires far enough away, and holds exactly its permission groups.

Its policies name this account only. The catalog gives every token an expiry (``kvstack:token_expiry``)
unless the project declares it ``expires: never``: a token that never expires is a finding, never a pass,
but for a token so declared.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from checks.resources import TokenResource
from kvstack.permissions import account_resource


def _needs_value(token: TokenResource) -> None:
    if not token.has_value:
        pytest.fail(
            f"{token.label}: expected its value in the outputs to verify it; found none "
            "(read the outputs with secrets: `pulumi stack output --json --show-secrets`)"
        )


def test_token_verifies_as_active(token: TokenResource) -> None:
    _needs_value(token)
    assert token.status == "active", (
        f"{token.label}: expected status 'active' from /user/tokens/verify; found {token.status!r}"
    )


def test_token_expiry_is_far_enough(token: TokenResource, expiry_days: int) -> None:
    _needs_value(token)
    expires = token.expires_on
    if expires is None and token.details is None and token.status != "active":
        pytest.fail(
            f"{token.label}: expected to read its expiry; found the token rejected ({token.status}) "
            f"and unknown to the account (no token with id {token.output.id})"
        )
    declared = token.declared.expires_on
    if expires is None:
        if declared is None:
            return  # the project declares it `expires: never`
        pytest.fail(
            f"{token.label}: expected an expiry (the catalog declares {declared.isoformat()}, "
            "kvstack:token_expiry); found a token that never expires — replace it with `pulumi up`, or declare "
            f"`expires: never` on tokens.{token.declared.key} in Pulumi.yaml if it may not expire"
        )
    left = expires - datetime.now(UTC)
    assert left >= timedelta(days=expiry_days), (
        f"{token.label}: expected an expiry at least {expiry_days} days away; found {expires.isoformat()} "
        f"({left.days} days left) — roll it with `pulumi up` after raising kvstack:token_expiry"
    )


def test_token_holds_exactly_the_declared_permissions(token: TokenResource) -> None:
    assert token.details is not None, (
        f"{token.label}: expected the account to know this token; found no token with id {token.output.id}"
    )
    declared = set(token.declared.permissions)
    found = token.permission_groups
    extra, missing = sorted(found - declared), sorted(declared - found)
    assert (extra, missing) == ([], []), (
        f"{token.label}: expected exactly the permission groups {sorted(declared)}; found {sorted(found)}"
        + (f" — extra: {', '.join(extra)}" if extra else "")
        + (f" — missing: {', '.join(missing)}" if missing else "")
    )


def test_token_is_scoped_to_this_account_only(token: TokenResource) -> None:
    assert token.details is not None, f"{token.label}: expected the account to know this token; found none"
    expected = {account_resource(token.account_id)}
    found = token.resources
    assert found == expected, (
        f"{token.label}: expected its policies to name only {sorted(expected)[0]}; found {sorted(found) or 'none'}"
    )
    denials = [p for p in token.policies if p.get("effect", "allow") != "allow"]
    assert not denials, f"{token.label}: expected allow policies only; found {len(denials)} other"
