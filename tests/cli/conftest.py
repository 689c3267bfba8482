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


def invoke(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`kvstack ARGS` in this process (fast, for many hostile inputs): exit code, stdout, stderr.

    Any exception that is not a deliberate KvstackError propagates: a traceback fails the test.
    """
    from kvstack.cli import main

    capsys.readouterr()
    saved = sys.argv
    sys.argv = ["kvstack", *args]
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    finally:
        sys.argv = saved
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def kvstack() -> object:
    return run_kvstack
