"""`kvstack plan`: exit codes, what it prints, and its JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kvstack.outputs import parse_outputs
from tests.cli.conftest import ROOT, run_kvstack


def test_plan_dev_exits_0_and_shows_every_resource_binding_and_policy() -> None:
    result = run_kvstack("plan", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for title in ("dubai-app-front-dev-CHART_KV", "dubai-app-front-dev-CHART_KV_preview", "codex-dev-CACHE_KV_preview"):
        assert title in out
    for table in ("resources of stack dev", "bindings", "Pages project bindings", "token policies"):
        assert table in out
    assert "kvstack-dev-chatchonk-api-runtime" in out
    assert "Workers KV Storage Write" in out
    assert "protect, retain" not in out, "dev namespaces are not protected"
    assert '"schema_version": 1' in out
    assert "dev: 16 Cloudflare resources (0 imported) in 13 components" in result.stderr


def test_plan_prod_shows_protection_and_the_import() -> None:
    result = run_kvstack("plan", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("protect, retain") == 12
    assert "fedcba9876543210fedcba9876543210/5f1e2d3c4b5a69788796a5b4c3d2e1f0" in result.stdout
    assert "16 Cloudflare resources (1 imported)" in result.stderr


def test_plan_json_holds_every_resource_and_a_valid_outputs_document() -> None:
    result = run_kvstack("plan", "--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["placeholder_ids"] is True
    kinds = sorted(r["type"].rsplit(":", 1)[-1] for r in document["resources"] if r["custom"])
    assert kinds == ["AccountToken"] * 3 + ["PagesProject"] + ["WorkersKvNamespace"] * 12
    outputs = parse_outputs(document["kvstack"], "plan --json")
    assert outputs.apps["codex"].bindings["CACHE_KV"].title == "codex-dev-CACHE_KV"


def test_plan_of_an_unknown_stack_exits_2() -> None:
    result = run_kvstack("plan", "--stack", "qa")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "choose one of the stacks: dev, prod" in result.stderr


def test_plan_with_an_unknown_permission_group_exits_2_naming_token_and_group(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.yaml").read_text().replace("- Pages Write", "- Pages Writer")
    (tmp_path / "Pulumi.yaml").write_text(text)
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    result = run_kvstack("plan", "--stack", "dev", "--root", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "token deploy asks for permission group 'Pages Writer'" in result.stderr
    assert "did you mean 'Pages Write'" in result.stderr
    assert "Traceback" not in result.stderr
