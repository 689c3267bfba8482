"""`kvstack audit`: usage and configuration errors exit 2 with what, where and what to do (no API needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, invoke


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "keyspaces", tmp_path / "keyspaces")
    return tmp_path


def test_local_audit_without_a_running_local_cloudflare_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke("audit", "--local", "--stack", "dev", "--root", str(project), capsys=capsys)
    assert code == 2
    assert "the local Cloudflare is not running" in err
    assert "kvstack local up --stack dev" in err
    assert out == ""


def test_real_audit_with_a_missing_outputs_file_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = invoke(
        "audit", "--stack", "dev", "--root", str(project), "--outputs", str(project / "nowhere.json"), capsys=capsys
    )
    assert code == 2
    assert "nowhere.json: file not found" in err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--fail-on", "fatal"), "--fail-on"),
        (("--days", "3"), "--days"),
        (("--rate-limit", "many"), "--rate-limit"),
        (("--stack", "staging"), "no stack 'staging'"),
    ],
)
def test_bad_options_exit_2_naming_the_option(
    project: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], said: str
) -> None:
    code, _, err = invoke("audit", "--root", str(project), *args, capsys=capsys)
    assert code == 2
    assert said in err
