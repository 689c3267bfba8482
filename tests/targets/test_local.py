"""The local target: everything from the running `kvstack local up`, nothing else; refused when it is not running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kvstack import names
from kvstack.local import control
from kvstack.local.state import LocalState, local_outputs_file
from tests.audit.localstack import local_up
from tests.cloudflare.failing_apis import ErrorApi
from tests.render.conftest import outputs_document
from tests.targets.conftest import Project


def test_check_local_with_no_local_cloudflare_is_exit_2_with_what_to_do(project: Project) -> None:
    result = project.kvstack("check", "--stack", "dev", "--local")
    assert result.returncode == 2
    assert "the local Cloudflare is not running" in result.stderr
    assert "kvstack local up --stack dev" in result.stderr
    assert project.pulumi_calls() == []  # the stand-in `pulumi` is never asked


def test_local_from_the_environment_chooses_the_local_target(project: Project) -> None:
    result = project.kvstack("render", "--stack", "dev", "--check", KVSTACK_LOCAL="1")
    assert result.returncode == 2
    assert "the local Cloudflare is not running" in result.stderr
    assert project.pulumi_calls() == []


def test_local_with_an_outputs_file_is_refused(project: Project) -> None:
    result = project.kvstack("check", "--stack", "dev", "--local", "--outputs", str(project.bin / "stack-output.json"))
    assert result.returncode == 2
    assert "--outputs" in result.stderr
    assert "is for the real Cloudflare" in result.stderr


def test_local_with_an_api_url_is_refused(project: Project) -> None:
    result = project.kvstack(
        "check", "--stack", "dev", "--local", KVSTACK_API_URL="https://api.cloudflare.com/client/v4"
    )
    assert result.returncode == 2
    assert "--api-url" in result.stderr


def test_a_dead_local_api_counts_as_not_running(project: Project) -> None:
    state = project.root / ".kvstack" / "local"
    state.mkdir(parents=True)
    (state / "local.json").write_text(
        '{"stack": "dev", "account_id": "0123456789abcdef0123456789abcdef", "api_url": "http://127.0.0.1:9",'
        ' "token_file": "/nonexistent", "processes": [], "apps": {}, "knobs": {}}'
    )
    result = project.kvstack("check", "--stack", "dev", "--local")
    assert result.returncode == 2
    assert "does not answer" in result.stderr
    assert "kvstack local up --stack dev" in result.stderr


def test_a_local_audit_names_the_audit_token_from_the_outputs_when_it_is_refused(project: Project) -> None:
    document = outputs_document(project.root, "dev")
    (audit,) = (t for t in document["tokens"].values() if t["role"] == "audit")
    audit["value"] = "the-audit-token"
    outputs = local_outputs_file(project.root, "dev")
    outputs.parent.mkdir(parents=True)
    outputs.write_text(json.dumps({names.OUTPUTS_EXPORT: document}))
    with ErrorApi(401, 10000) as api:
        LocalState(
            stack="dev",
            account_id=document["account_id"],
            api_url=api.base_url.removesuffix("/client/v4"),
            token_file=str(project.root / "bootstrap-token"),
        ).save(project.root)
        result = project.kvstack("audit", "--stack", "dev", "--local", timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"refused the token from the audit token's value in the local outputs ({outputs})" in result.stderr
    assert "token file" not in result.stderr
    assert "the-audit-token" not in result.stdout + result.stderr


@pytest.mark.runtime
@pytest.mark.slow
def test_a_local_token_deleted_through_the_api_is_refused_with_local_up_as_the_remedy(tmp_path: Path) -> None:
    with local_up(tmp_path / "project") as local:
        outputs = local_outputs_file(local.root, "dev")
        (audit_id,) = (t["id"] for t in local.document["tokens"].values() if t["role"] == "audit")
        local.sdk().accounts.tokens.delete(audit_id, account_id=local.state.account_id)
        audit = local.cli("--stack", "dev")
        assert audit.returncode == 2, audit.stdout + audit.stderr
        assert f"refused the token from the audit token's value in the local outputs ({outputs})" in audit.stderr
        remedy = "run `kvstack local down` and `kvstack local up --stack dev` to issue it again"
        assert f"read from the audit token's value in the local outputs ({outputs}): {remedy}" in audit.stderr
        assert "to a valid token" not in audit.stderr

        # The check runs with the bootstrap token `local up` wrote; a user with its value deletes it.
        bootstrap_id = local.sdk().user.tokens.verify().id
        local.sdk().user.tokens.delete(bootstrap_id)
        check = _kvstack_local("check", local.root, "--only", "tokens")
        assert check.returncode == 2, check.stdout + check.stderr
        assert f"refused the token from the local token file {local.state.token_file}" in check.stderr
        assert f"read from the local token file {local.state.token_file}: {remedy}" in check.stderr
        assert "to a valid token" not in check.stderr

        # The remedy the hint names works: `local down` and `local up` issue both tokens anew.
        control.down(local.root)
        control.up(local.root, "dev")
        again = local.cli("--stack", "dev")
        assert again.returncode == 0, again.stdout + again.stderr
        checked = _kvstack_local("check", local.root, "--only", "tokens")
        assert checked.returncode == 0, checked.stdout + checked.stderr


def _kvstack_local(command: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvstack", command, "--local", "--stack", "dev", "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
