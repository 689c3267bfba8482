"""The healthy stack passes every check that needs no app URL, and the report says what was spent."""

from __future__ import annotations

from .conftest import World


def test_healthy_stack_passes(world: World) -> None:
    outcome = world.run("bindings", "tokens", "keyspaces")
    assert world.failures(outcome) == {}
    assert outcome.exit_code == 0
