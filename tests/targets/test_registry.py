"""The registry: targets known by name, imported only when chosen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kvstack.errors import UsageError
from kvstack.targets import TARGETS, choose_target, get_target


def test_choose_target_maps_local_to_the_local_target_and_else_the_real_one(tmp_path: Path) -> None:
    assert choose_target(tmp_path, "dev", local=False).name == "cloudflare"
    assert choose_target(tmp_path, "dev", local=True).name == "local"
    assert set(TARGETS) == {"cloudflare", "local"}


def test_an_unknown_target_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cloudflare, local"):
        get_target("staging", tmp_path, "dev")


def test_target_modules_are_imported_only_when_chosen() -> None:
    code = (
        "import sys, kvstack.targets as t, pathlib; "
        "t.choose_target(pathlib.Path('.'), 'dev', local=False); "
        "print('kvstack.targets.local' in sys.modules, 'kvstack.local.state' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
