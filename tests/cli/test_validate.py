"""`kvstack validate`: exit codes and what it says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli.conftest import ROOT, run_kvstack


def test_validate_seed_catalog_exits_0_and_lists_every_binding() -> None:
    result = run_kvstack("validate", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    for title in ("dubai-app-front-dev-CHART_KV", "codex-dev-AUTH_SESSION_KV_preview", "pickmyclass-dev-KV"):
        assert title in result.stdout
    assert "4 apps, 6 bindings, 3 tokens" in result.stderr


def test_validate_json_is_machine_readable() -> None:
    result = run_kvstack("validate", "--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["protect"] is True
    adopted = [b for b in document["bindings"] if b["action"].startswith("adopt")]
    assert [b["title"] for b in adopted] == ["chatchonk-api-prod-CACHE_KV"]


def test_validate_broken_catalog_exits_2_with_location_on_stderr(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("kvstack:protect: false", "kvstack:protect: maybe")
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    result = run_kvstack("validate", "--stack", "dev", "--root", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Pulumi.dev.yaml:5:" in result.stderr
    assert "config.kvstack:protect" in result.stderr
    assert "'maybe' is not of type boolean" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_unknown_stack_exits_2() -> None:
    result = run_kvstack("validate", "--stack", "qa")
    assert result.returncode == 2
    assert "choose one of the stacks: dev, prod" in result.stderr


def test_validate_outside_a_project_says_where_it_looked(tmp_path: Path) -> None:
    result = run_kvstack("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "no Pulumi.yaml" in result.stderr
    assert "--root" in result.stderr
