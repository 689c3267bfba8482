"""The shipped CI workflow (.github/workflows/deploy.yml) passes actionlint, and actionlint catches planted mistakes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.needs import need

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"


def actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    need(found is not None, "actionlint", "install the dev dependencies: pip install -e '.[dev]' (make setup)")
    assert found is not None
    return found


def lint(workflow: Path) -> subprocess.CompletedProcess[str]:
    """actionlint on one workflow file (shellcheck and pyflakes off: they are not installed everywhere)."""
    return subprocess.run(
        [actionlint(), "-no-color", "-shellcheck=", "-pyflakes=", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def planted(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the project's workflow with one user's mistake in it."""
    text = WORKFLOW.read_text(encoding="utf-8")
    assert old in text, f"the workflow no longer holds {old!r}: update the planted defect"
    path = tmp_path / ".github" / "workflows" / "deploy.yml"
    path.parent.mkdir(parents=True)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_deploy_workflow_passes_actionlint() -> None:
    result = lint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_workflow_runs_prod_after_dev_and_keeps_reports() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "needs: deploy-dev" in text
    for step in ("kvstack validate", "kvstack render --check", "pulumi preview", "pulumi up", "kvstack check"):
        assert step in text, step
    assert "actions/upload-artifact" in text
    assert "reports/" in text


@pytest.mark.parametrize(
    ("old", "new", "caught"),
    [
        ("needs: deploy-dev", "needs: deploy-develop", "deploy-develop"),
        ("stack: [dev, prod]", "stacks: [dev, prod]", "matrix"),
        ("${{ secrets.KVSTACK_CHECK_TOKEN }}", "${{ secret.KVSTACK_CHECK_TOKEN }}", "secret"),
        ("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", "runs_on"),
    ],
    ids=["unknown-needed-job", "matrix-key-renamed", "context-typo", "misspelled-key"],
)
def test_a_planted_mistake_in_the_workflow_is_caught(tmp_path: Path, old: str, new: str, caught: str) -> None:
    result = lint(planted(tmp_path, old, new))
    assert result.returncode == 1, f"actionlint missed {new!r}:\n{result.stdout}{result.stderr}"
    assert caught in result.stdout
