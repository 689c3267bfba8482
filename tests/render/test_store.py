"""The .env of the energy app (an Upstash store): prefix always, URL and tokens only with secrets, 0600."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from kvstack.catalog import load_catalog
from kvstack.errors import WranglerFileError
from kvstack.outputs import parse_outputs
from kvstack.render import MASK, FilePlan, plan_render, write_plan
from tests.cli.conftest import run_kvstack
from tests.render.conftest import STORE_SECRETS, TOKEN_VALUE, outputs_document, write_outputs


def energy_plan(project: Path, stack: str = "dev", document: dict[str, Any] | None = None, **kwargs: Any) -> FilePlan:
    outputs = parse_outputs(
        document or outputs_document(project, stack),
        "test",
        {"chatchonk-api-runtime": TOKEN_VALUE},
        {"energy-cache": STORE_SECRETS},
    )
    [plan] = plan_render(load_catalog(project, stack), outputs, app="energy", **kwargs)
    return plan


def test_with_secrets_the_env_gets_url_both_tokens_and_the_stack_prefix_mode_0600(project: Path) -> None:
    plan = energy_plan(project, with_secrets=True)
    assert plan.relpath == "apps/energy/.env"
    for line in (
        f"KV_REST_API_URL={STORE_SECRETS['rest_url']}\n",
        f"KV_REST_API_TOKEN={STORE_SECRETS['token']}\n",
        f"KV_REST_API_READ_ONLY_TOKEN={STORE_SECRETS['read_only_token']}\n",
        "KV_NAMESPACE=dev\n",
    ):
        assert line in plan.new_text
    assert plan.new_text.startswith("# The energy app's Upstash Redis")  # started from .env.example
    shown = plan.diff() + repr(plan) + "".join(str(f) for f in plan.findings)
    assert not any(secret in shown for secret in STORE_SECRETS.values())
    assert f"KV_REST_API_TOKEN={MASK}" in plan.diff()
    write_plan(plan)
    env = project / "apps" / "energy" / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert not energy_plan(project, with_secrets=True).drifted
    assert "KV_NAMESPACE=prod\n" in energy_plan(project, "prod", with_secrets=True).new_text


def test_without_secrets_only_the_prefix_is_written_and_tokens_already_there_are_kept(project: Path) -> None:
    write_plan(energy_plan(project, with_secrets=True))
    plan = energy_plan(project)
    assert plan.secrets == ()
    assert plan.new_text == plan.old_text
    assert not plan.drifted


def test_a_changed_token_or_prefix_is_drift_with_the_value_hidden(project: Path) -> None:
    write_plan(energy_plan(project, with_secrets=True))
    document = outputs_document(project, "dev")
    document["stores"]["energy-cache"]["prefix"] = "staging"
    moved = energy_plan(project, document=document)
    assert moved.drifted
    assert any("KV_NAMESPACE is 'dev'; the outputs say staging" in str(f) for f in moved.findings)
    env = project / "apps" / "energy" / ".env"
    env.write_text(env.read_text().replace(STORE_SECRETS["token"], "AX-rotated"))
    rotated = energy_plan(project, with_secrets=True)
    assert rotated.drifted
    assert any("KV_REST_API_TOKEN differs from the outputs (value hidden)" in str(f) for f in rotated.findings)
    assert "AX-rotated" not in "".join(str(f) for f in rotated.findings)


def test_outputs_without_the_store_or_its_secrets_are_error_findings_not_invented_values(project: Path) -> None:
    document = outputs_document(project, "dev")
    del document["stores"]
    missing = energy_plan(project, document=document)
    assert missing.drifted
    assert [f.kind for f in missing.findings if f.severity == "error"] == ["missing-store"]
    outputs = parse_outputs(outputs_document(project, "dev"), "test", {"chatchonk-api-runtime": TOKEN_VALUE})
    [plan] = plan_render(load_catalog(project, "dev"), outputs, app="energy", with_secrets=True)
    kinds = [f.kind for f in plan.findings if f.severity == "error"]
    assert kinds == ["missing-secret"] * 3
    assert any("pulumi config set --secret kvstack:store.energy-cache.token" in f.message for f in plan.findings)
    assert "KV_REST_API_TOKEN=\n" in plan.new_text  # the example's empty value, nothing invented


def test_a_store_env_that_is_a_link_is_refused_not_read_through(project: Path) -> None:
    elsewhere = project / "shared.env"  # inside the project: the catalog refuses a link leading out of it
    elsewhere.write_text("KV_NAMESPACE=dev\n")
    (project / "apps" / "energy" / ".env").symlink_to(elsewhere)
    with pytest.raises(WranglerFileError) as caught:
        energy_plan(project)
    assert caught.value.file == "apps/energy/.env"
    assert caught.value.exit_code == 2


def test_render_check_on_the_cli_fails_on_drift_and_never_prints_a_secret(project: Path) -> None:
    outputs = write_outputs(project / "outputs.json", outputs_document(project, "dev"))
    base = ("render", "--stack", "dev", "--root", str(project), "--outputs", str(outputs), "--app", "energy")
    written = run_kvstack(*base, "--with-secrets")
    assert written.returncode == 0, written.stderr
    assert run_kvstack(*base, "--check", "--with-secrets").returncode == 0
    env = project / "apps" / "energy" / ".env"
    env.write_text(env.read_text().replace("KV_NAMESPACE=dev", "KV_NAMESPACE=prod"))
    drift = run_kvstack(*base, "--check", "--with-secrets")
    assert drift.returncode == 1
    assert "KV_NAMESPACE" in drift.stdout + drift.stderr
    for result in (written, drift):
        assert not any(secret in result.stdout + result.stderr for secret in STORE_SECRETS.values())
