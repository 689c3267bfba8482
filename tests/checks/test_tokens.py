"""Token checks on what only the fake can show: a policy whose permission groups come without names.

Every other planted token defect (revoked, expiring, over-privileged, for another account, without
expiry, missing from the outputs) runs against the real local Cloudflare in test_local.py.
"""

from __future__ import annotations

from .conftest import World


def test_unnamed_permission_group_is_resolved_by_id(world: World) -> None:
    token_id = world.document["tokens"]["audit"]["id"]
    groups = world.fake.token_details[token_id]["policies"][0]["permission_groups"]
    groups[0] = {"id": groups[0]["id"]}
    assert world.failures(world.run("tokens")) == {}
