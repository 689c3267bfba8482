"""The design decision, kept honest: in the runtime, two apps and the explorer API share one KV store
under concurrent writes (the probe in shared_storage_probe.py, bounded to 100 operations per phase)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.local.runtime.shared_storage_probe import COUNTS, _single, _workload

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]


def test_two_apps_and_the_explorer_see_every_write_delete_and_list(tmp_path: Path) -> None:
    with _single(tmp_path) as (url_a, url_b, explorer, _logs):
        counts = _workload(url_a, url_b, explorer, n=100, ttl=False)
    problems = {kind: counts[kind] for kind in COUNTS if not kind.endswith("_ops") and counts[kind]}
    assert problems == {}, f"{problems}; examples: {counts['examples']}"
    assert counts["listed"] == {"a": 100, "b": 100, "explorer": 100, "written": 100}
