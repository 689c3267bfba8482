"""Running the real `kvstack` command in a subprocess, as users do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_kvstack(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`kvstack ARGS` with this interpreter; stdout and stderr captured separately."""
    return subprocess.run(
        [sys.executable, "-m", "kvstack", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


@pytest.fixture
def kvstack() -> object:
    return run_kvstack
