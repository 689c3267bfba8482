"""A project copy, a stand-in `pulumi` on PATH (a script printing a stack's outputs), and the CLI run against them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kvstack import names
from tests.cli.conftest import ROOT
from tests.render.conftest import outputs_document

# The namespace id the stand-in `pulumi` reports for pickmyclass's KV: the cloud stack's, never the local one's.
CLOUD_ID = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1"


@dataclass
class Project:
    root: Path
    bin: Path  # holds the stand-in `pulumi`
    calls: Path  # one line per call of the stand-in: its arguments

    def pulumi_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def kvstack(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        """`kvstack ARGS` in the project, with only the stand-in `pulumi` and the system tools on PATH."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KVSTACK_", "CLOUDFLARE_"))}
        base["PATH"] = f"{self.bin}:/usr/bin:/bin"
        return subprocess.run(
            [sys.executable, "-m", "kvstack", *args, "--root", str(self.root)],
            cwd=self.root,
            capture_output=True,
            text=True,
            env={**base, **env},
            check=False,
            timeout=timeout,  # a generous bound: a run that hangs fails the test instead of the suite
        )


def stand_in_pulumi(folder: Path, document: dict[str, Any], calls: Path) -> None:
    """An executable `pulumi` that logs its arguments and prints ``document`` as `pulumi stack output --json`."""
    folder.mkdir(parents=True, exist_ok=True)
    printed = folder / "stack-output.json"
    printed.write_text(json.dumps({names.OUTPUTS_EXPORT: document}))
    script = folder / "pulumi"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\ncat "{printed}"\n')
    script.chmod(0o755)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "keyspaces", root / "keyspaces")
    shutil.copytree(ROOT / "apps", root / "apps")
    document = outputs_document(root, "dev")
    document["apps"]["pickmyclass"]["bindings"]["KV"]["id"] = CLOUD_ID
    calls = tmp_path / "pulumi-calls"
    stand_in_pulumi(tmp_path / "bin", document, calls)
    return Project(root, tmp_path / "bin", calls)
