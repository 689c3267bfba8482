"""The real Cloudflare target: outputs only from --outputs or `pulumi stack output`, said once; mixing refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from kvstack.cli.common import DEFAULT_TIMEOUT
from kvstack.cloudflare import DEFAULT_RUN_DEADLINE
from tests.cloudflare.failing_apis import ErrorApi, unused_port_url
from tests.fakecloudflare import TOKEN, FakeCloudflare
from tests.targets.conftest import CLOUD_ID, Project


def test_check_without_local_reads_pulumi_stack_output_and_says_so(project: Project) -> None:
    result = project.kvstack("check", "--stack", "dev", "--only", "bindings")
    assert "target: real Cloudflare (stack dev); outputs from `pulumi stack output --stack dev`" in result.stderr
    assert project.pulumi_calls() == ["stack output --json --stack dev --show-secrets"]
    assert result.returncode == 2, result.stderr
    assert "CLOUDFLARE_API_TOKEN is not set" in result.stderr


def test_check_reports_land_in_reports_by_default_and_record_the_source(project: Project) -> None:
    with FakeCloudflare() as fake:
        result = project.kvstack(
            "check", "--stack", "dev", "--only", "bindings", CLOUDFLARE_API_TOKEN=TOKEN, KVSTACK_API_URL=fake.base_url
        )
    # The stand-in's namespaces are not in the fake account: findings, exit 1 — but from the stand-in's outputs.
    assert result.returncode == 1, result.stderr
    report = json.loads((project.root / "reports" / "check-dev.json").read_text())
    assert (project.root / "reports" / "check-dev.xml").is_file()
    assert any(CLOUD_ID in path for path in fake.paths())
    assert report["target"] == "cloudflare"
    assert report["source"]["outputs_source"] == "`pulumi stack output --stack dev`"
    assert report["source"]["api_url"] == fake.base_url
    assert report["source"]["token_source"] == "CLOUDFLARE_API_TOKEN"
    assert TOKEN not in result.stdout + result.stderr


def test_render_reads_the_same_source_and_says_so(project: Project) -> None:
    result = project.kvstack("render", "--stack", "dev", "--check")
    assert "target: real Cloudflare (stack dev); outputs from `pulumi stack output --stack dev`" in result.stderr
    assert project.pulumi_calls() == ["stack output --json --stack dev"]
    assert result.returncode == 1  # the repo's app files carry placeholders: drift


def test_no_pulumi_and_no_outputs_file_says_what_to_do(project: Project) -> None:
    shutil.rmtree(project.bin)
    result = project.kvstack("render", "--stack", "dev", "--check")
    assert result.returncode == 2
    assert "the Pulumi CLI is not on PATH" in result.stderr
    assert "--outputs FILE" in result.stderr
    assert "--local" in result.stderr


def test_outputs_of_another_stack_are_refused(project: Project) -> None:
    result = project.kvstack("render", "--stack", "prod", "--check")
    assert result.returncode == 2
    assert "the outputs are of stack 'dev', not 'prod'" in result.stderr


def test_the_local_cloudflares_outputs_file_is_refused_for_the_real_target(project: Project) -> None:
    state = project.root / ".kvstack" / "local" / "stacks"
    state.mkdir(parents=True)
    shutil.copy(project.bin / "stack-output.json", state / "dev.outputs.json")
    result = project.kvstack("render", "--stack", "dev", "--check", "--outputs", str(state / "dev.outputs.json"))
    assert result.returncode == 2
    assert "is the local Cloudflare's state" in result.stderr
    assert "--local" in result.stderr
    assert project.pulumi_calls() == []


def _error_of(result: subprocess.CompletedProcess[str]) -> str:
    """The command's closing error (message and hint): what stderr says after its last `error:`."""
    return result.stderr[result.stderr.rindex("error:") :]


def _report(project: Project) -> dict[str, Any]:
    return dict(json.loads((project.root / "reports" / "check-dev.json").read_text()))


def test_check_against_an_unreachable_api_ends_at_its_first_request_with_exit_2(project: Project) -> None:
    url = unused_port_url()
    result = project.kvstack("check", "--stack", "dev", timeout=120, CLOUDFLARE_API_TOKEN="t", KVSTACK_API_URL=url)
    assert result.returncode == 2, result.stderr
    error = _error_of(result)
    assert f"could not reach the Cloudflare API at {url}" in error
    assert "ConnectError" in error
    assert "--api-url" in error
    assert "CLOUDFLARE_API_TOKEN" in error
    report = _report(project)
    assert report["exit_code"] == 2
    assert report["spent"]["api_requests"] == 1, "the first request ended the run: no retry, no other check"
    assert report["summary"]["total"] == 1
    declared = sum(row["declared"] for row in report["coverage"])
    assert sum(row["not_run"] for row in report["coverage"]) == declared - 1, "no check ran after the first"
    assert "0 passed, 0 failed, 1 errors" in result.stdout, "the summary is printed before the error"


def test_check_with_a_refused_token_ends_at_its_first_request_with_exit_2(project: Project) -> None:
    with ErrorApi(401, 10000) as api:
        result = project.kvstack(
            "check", "--stack", "dev", timeout=120, CLOUDFLARE_API_TOKEN="not-the-token", KVSTACK_API_URL=api.base_url
        )
    assert result.returncode == 2, result.stderr
    error = _error_of(result)
    assert f"the Cloudflare API at {api.base_url} refused the token from CLOUDFLARE_API_TOKEN" in error
    assert "HTTP 401: 10000 Authentication error" in error
    assert "set CLOUDFLARE_API_TOKEN to a valid token" in error
    assert "not-the-token" not in result.stdout + result.stderr
    assert len(api.requests) == 1, f"requests after the token was refused: {api.requests}"
    report = _report(project)
    assert report["exit_code"] == 2
    assert report["summary"]["total"] == 1
    assert "0 passed, 0 failed, 1 errors" in result.stdout


def test_check_ends_at_its_deadline_when_the_api_keeps_failing(project: Project) -> None:
    with ErrorApi(503, 7000, "Service unavailable", max_requests=100) as api:
        result = project.kvstack(
            "check", "--stack", "dev", timeout=120, CLOUDFLARE_API_TOKEN="t", KVSTACK_API_URL=api.base_url,
            KVSTACK_TIMEOUT="5",
        )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    # Where the deadline falls (between a 503's retries, or between checks) depends on the machine's speed.
    error = _error_of(result)
    assert "the run's deadline of 5 s passed" in error
    assert "--timeout (KVSTACK_TIMEOUT)" in error
    assert len(api.requests) < 100, "the run stopped retrying at its deadline"
    assert _report(project)["exit_code"] == 2


def test_audit_against_an_unreachable_api_ends_at_its_first_request_with_exit_2(project: Project) -> None:
    url = unused_port_url()
    result = project.kvstack("audit", "--stack", "dev", timeout=120, CLOUDFLARE_API_TOKEN="t", KVSTACK_API_URL=url)
    assert result.returncode == 2, result.stderr
    error = _error_of(result)
    assert f"could not reach the Cloudflare API at {url}" in error
    assert "CLOUDFLARE_API_TOKEN" in error


def test_audit_with_a_refused_token_ends_at_its_first_request_with_exit_2(project: Project) -> None:
    with ErrorApi(401, 10000) as api:
        result = project.kvstack(
            "audit", "--stack", "dev", timeout=120, CLOUDFLARE_API_TOKEN="not-the-token", KVSTACK_API_URL=api.base_url
        )
    assert result.returncode == 2, result.stderr
    assert "refused the token from CLOUDFLARE_API_TOKEN" in _error_of(result)
    assert "not-the-token" not in result.stdout + result.stderr
    assert len(api.requests) <= 8, f"at most one request per worker in flight: {api.requests}"


def test_audit_ends_at_its_timeout_when_the_api_keeps_failing(project: Project) -> None:
    with ErrorApi(503, 7000, "Service unavailable", max_requests=100) as api:
        result = project.kvstack(
            "audit", "--stack", "dev", "--timeout", "3", timeout=120, CLOUDFLARE_API_TOKEN="t",
            KVSTACK_API_URL=api.base_url,
        )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    error = _error_of(result)
    assert "the run's deadline of 3 s passed" in error
    assert "--timeout (KVSTACK_TIMEOUT)" in error
    assert len(api.requests) < 100, "the run stopped retrying at its deadline"


def test_the_timeout_options_default_is_the_guards_run_deadline() -> None:
    assert DEFAULT_TIMEOUT == DEFAULT_RUN_DEADLINE
