"""kvstack.local.runtime's record: what a state file keeps of a running runtime, read back unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kvstack.local.runtime import LocalRuntime, RunningApp


def test_record_is_json(tmp_path: Path) -> None:
    runtime = LocalRuntime(
        url="http://127.0.0.1:1",
        port=1,
        pid=os.getpid(),
        log_file=tmp_path / "log",
        persist_to=tmp_path,
        env="staging",
        apps={"codex": RunningApp("codex", "http://127.0.0.1:1/codex", 1, os.getpid(), "codex-staging", tmp_path, "x")},
    )
    again = LocalRuntime.from_record(json.loads(json.dumps(runtime.record())))
    assert again.apps == runtime.apps
    assert again.record() == runtime.record()
