"""With faults on (10% 429 with Retry-After, 5% 500, 2% dropped connections) the verdicts equal a fault-free run.

Seeded: the same faults every time this test runs. Five faulty runs against a world with planted defects,
so that the verdicts compared include failures, not only passes.
"""

from __future__ import annotations

import json
import time

import pytest

from checks.runner import RunOutcome

from .conftest import SESSION, World


def _verdicts(outcome: RunOutcome) -> dict[str, tuple[str, str | None]]:
    return {r.nodeid: (r.outcome, r.message) for r in outcome.results.ordered()}


@pytest.mark.slow
def test_verdicts_under_faults_equal_the_fault_free_run(world: World) -> None:
    # Two planted defects, so some verdicts are failures.
    del world.fake.scripts["pickmyclass"]
    sessions = world.ids("codex", "AUTH_SESSION_KV")["id"]
    world.fake.put(sessions, "session:" + "c" * 64, json.dumps(SESSION))
    state = world.ids("pickmyclass", "KV")["id"]
    for n in range(300):
        value = json.dumps({"class_nbr": n, "status": "open", "seats_available": 1, "fetched_at": "t"})
        world.fake.put(state, f"class_state:{n}", value, time.time() + 3000)

    baseline = world.run("bindings", "tokens", "keyspaces", deep=True)
    expected = _verdicts(baseline)
    assert baseline.exit_code == 1
    assert sum(1 for outcome, _ in expected.values() if outcome == "failed") == 2

    world.fake.fault_rates = (0.10, 0.05, 0.02)
    world.fake.retry_after = "0.02"  # Cloudflare sends whole seconds; a fraction keeps the test short
    retries = []
    for seed in range(5):
        world.fake.rng.seed(seed)
        outcome = world.run("bindings", "tokens", "keyspaces", deep=True)
        assert _verdicts(outcome) == expected, f"run with fault seed {seed} gave other verdicts"
        spent = world.last_report["spent"]
        assert spent["rate_limited"] + spent["server_errors"] + spent["connection_errors"] > 0, "faults happened"
        retries.append(spent["retries"])
    assert all(r > 0 for r in retries)
