"""`pytest checks --kvstack-stack S` works on its own, without the kvstack command.

A planted defect caught through the plugin alone runs on the local Cloudflare (test_local.py); here, on the
fake, what `--kvstack-local` cannot show: a flow that skips because its app has no URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakecloudflare import TOKEN

from .conftest import ROOT, World


def _pytest(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KVSTACK_", "CLOUDFLARE_"))}
    env["CLOUDFLARE_API_TOKEN"] = TOKEN
    return subprocess.run(
        [sys.executable, "-m", "pytest", "checks", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_pytest_without_a_stack_is_a_usage_error(world: World) -> None:
    result = _pytest(world, "-q")
    assert result.returncode == 4
    assert "kvstack checks need a stack: pass --kvstack-stack S" in result.stderr


def test_pytest_fails_a_run_whose_checks_were_skipped_unless_allowed(world: World, tmp_path: Path) -> None:
    args = (
        "--kvstack-stack=dev",
        f"--kvstack-root={world.root}",
        f"--kvstack-outputs={world.root / 'outputs.json'}",
        f"--kvstack-api-url={world.fake.base_url}",
        "--kvstack-only=flows",
        "-k",
        "chart",
    )
    refused = _pytest(world, *args)
    assert "1 skipped" in refused.stdout
    assert refused.returncode == 1, refused.stdout + refused.stderr
    allowed = _pytest(world, *args, "--kvstack-allow-skip=flows")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
