"""kvstack.local.wrangler: stopping a recorded runtime from any process, and never something else."""

from __future__ import annotations

import subprocess

from kvstack.local.wrangler import stop_runtime


def test_stop_runtime_leaves_a_recorded_pid_that_is_not_wrangler_alone() -> None:
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        assert stop_runtime(other.pid) is False
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_stop_runtime_of_a_gone_pid_is_false() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert stop_runtime(gone.pid) is False
