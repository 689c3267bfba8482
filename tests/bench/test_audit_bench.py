"""bench/audit_bench.py's verdict: a skipped naive loop is said and is no failure; a goal measured and missed is.

The whole bench runs once at a small size on a real `kvstack local up` (as `make bench` runs it, a subprocess);
the verdict's other cases are its ``report`` over measurements written here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import pytest

from bench.audit_bench import report
from tests.cli.conftest import ROOT

NAMESPACES = 12  # what the bench's account would hold: every namespace one list request, one page


@pytest.mark.runtime
@pytest.mark.slow
def test_a_small_bench_with_the_naive_loop_skipped_says_so_and_exits_0() -> None:
    # A window of 30,000 s makes the rate-limited run's time goal far above what a few dozen requests take.
    small = ("--namespaces", "2", "--keys", "20", "--sample", "10", "--naive-keys", "0", "--rate-limit", "1200/30000")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "audit_bench.py"), *small],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["account"]["keys"] == 20
    assert document["naive_loop"] == {"status": "skipped", "reason": "--naive-keys 0"}
    assert document["goals"]["naive_loop"]["met"] is None
    assert document["missed"] == []
    assert "naive_loop: skipped: not compared (--naive-keys 0)" in done.stderr
    assert "MISSED" not in done.stderr


def _report(loop: dict[str, Any], *, key_lists: int = NAMESPACES, seconds: float = 1.0, retries: int = 0) -> int:
    args = argparse.Namespace(sample=100, naive_keys=0 if loop["status"] == "skipped" else 5, rate_limit="1200/300")
    server_saw = {"namespace_pages": 1, "key_lists": key_lists, "bulk_gets": 0, "other": 5}
    runs = [
        {"seconds": seconds, "server_saw": dict(server_saw), "http_429": 0, "client": {"retries": retries}}
        for _ in range(2)
    ]
    for run in runs:
        run["keys_per_namespace"] = {f"ns{i}": 0 for i in range(NAMESPACES)}
    return report(args, {}, {"seeded": 0.1, "storage_measured": 0.1}, runs[0], runs[1], loop)


MEASURED = {"status": "measured", "list_seconds": 1.0, "seconds_per_key_get": 3.0, "keys_listed": 5, "keys_read": 5}
SKIPPED = {"status": "skipped", "reason": "--naive-keys 0"}


def test_every_goal_met_with_the_naive_loop_measured_or_skipped_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert _report(dict(MEASURED)) == 0
    assert json.loads(capsys.readouterr().out)["goals"]["naive_loop"]["met"] is True
    assert _report(dict(SKIPPED)) == 0


def test_a_goal_measured_and_missed_exits_1_even_with_the_naive_loop_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _report(dict(SKIPPED), key_lists=2 * NAMESPACES) == 1  # KV requests twice the floor
    assert json.loads(capsys.readouterr().out)["missed"] == ["kv_requests_over_floor"]
    assert _report(dict(SKIPPED), seconds=60.0) == 1  # the floor's 13 requests at 1,200/300 s allow 3.6 s
    assert json.loads(capsys.readouterr().out)["missed"] == ["rate_limited_seconds"]
    assert _report(dict(SKIPPED), retries=1) == 1  # 1 retry in 18 requests
    out, err = capsys.readouterr()
    assert json.loads(out)["missed"] == ["retry_share"]
    assert "retry_share: MISSED" in err


def test_a_naive_loop_asked_for_that_could_not_run_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    failed = {"status": "failed", "reason": "CalledProcessError: wrangler exited 1"}
    assert _report(failed) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["missed"] == ["naive_loop"]
    assert "naive_loop: MISSED: not compared (CalledProcessError: wrangler exited 1)" in err
