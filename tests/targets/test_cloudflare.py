"""The real Cloudflare target: outputs only from --outputs or `pulumi stack output`, said once; mixing refused."""

from __future__ import annotations

import json
import shutil
import socket

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


def test_check_against_an_unreachable_api_ends_at_its_first_request_with_exit_2(project: Project) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{probe.getsockname()[1]}/client/v4"
    probe.close()  # nothing listens there: connection refused
    result = project.kvstack("check", "--stack", "dev", timeout=120, CLOUDFLARE_API_TOKEN="t", KVSTACK_API_URL=url)
    assert result.returncode == 2, result.stderr
    assert "could not reach the Cloudflare API" in result.stderr
    assert url in result.stderr
    assert "--api-url" in result.stderr


def test_check_with_a_refused_token_ends_at_its_first_request_with_exit_2(project: Project) -> None:
    with FakeCloudflare() as fake:  # knows only its own token: any other is answered 401
        result = project.kvstack(
            "check", "--stack", "dev", timeout=120, CLOUDFLARE_API_TOKEN="not-the-token", KVSTACK_API_URL=fake.base_url
        )
        requests = len(fake.paths())
    assert result.returncode == 2, result.stderr
    assert "refused the token" in result.stderr
    assert fake.base_url in result.stderr
    assert "CLOUDFLARE_API_TOKEN" in result.stderr
    assert "not-the-token" not in result.stdout + result.stderr
    assert requests <= 8, f"{requests} requests after the token was refused (at most one per worker in flight)"
