"""plan_render: the catalog and the outputs to one plan per file, and what --check / post-deploy checks see."""

from __future__ import annotations

import copy
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from kvstack.catalog import load_catalog
from kvstack.errors import OutputsError, UsageError, WranglerFileError
from kvstack.outputs import parse_outputs
from kvstack.render import MASK, FilePlan, plan_render, write_plan
from tests.render.conftest import TOKEN_VALUE, hex_id, outputs_document


def plans_for(project: Path, stack: str, document: dict[str, Any] | None = None, **kwargs: Any) -> list[FilePlan]:
    catalog = load_catalog(project, stack)
    outputs = parse_outputs(
        document or outputs_document(project, stack), "test", {"chatchonk-api-runtime": TOKEN_VALUE}
    )
    return plan_render(catalog, outputs, **kwargs)


def by_app(plans: list[FilePlan]) -> dict[str, FilePlan]:
    return {plan.app or "": plan for plan in plans}


def render_all(project: Path, stack: str, **kwargs: Any) -> None:
    for plan in plans_for(project, stack, **kwargs):
        write_plan(plan)


def drift_kinds(plan: FilePlan) -> list[tuple[str, str | None, str | None]]:
    return [(f.kind, f.section, f.binding) for f in plan.findings if f.severity == "error"]


def test_seed_apps_drift_until_rendered_then_match(project: Path) -> None:
    before = plans_for(project, "dev")
    assert [p.relpath for p in before if p.drifted] == [
        "apps/dubai-app-front/wrangler.toml",
        "apps/pickmyclass/wrangler.jsonc",
        "apps/codex/wrangler.toml",
    ]
    render_all(project, "dev")
    after = plans_for(project, "dev")
    assert [p.relpath for p in after if p.drifted or p.changed] == []
    assert [f for p in after for f in p.findings if f.severity != "info"] == []


def test_each_stack_writes_only_the_sections_it_owns(project: Path) -> None:
    codex = project / "apps" / "codex" / "wrangler.toml"
    original = codex.read_text()
    render_all(project, "dev", app="codex")
    staging = codex.read_text()
    render_all(project, "prod", app="codex")
    both = codex.read_text()
    staging_id = hex_id("codex-dev-CACHE_KV")
    production_id = hex_id("codex-prod-CACHE_KV")
    assert staging_id in staging
    assert production_id not in staging
    assert "PLACEHOLDER_AUTH_SESSION_KV_PRODUCTION_ID" in staging  # prod's section untouched by dev
    assert both.count(staging_id) == 1
    assert both.count(production_id) == 1
    # the top level belongs to no stack: local ids stay
    assert 'id = "local-auth-session"' in both
    assert original.split("[env.staging]")[0] == both.split("[env.staging]")[0]


def test_check_catches_a_changed_id(project: Path) -> None:
    render_all(project, "dev")
    document = outputs_document(project, "dev")
    document["apps"]["pickmyclass"]["bindings"]["KV"]["id"] = "f" * 32
    plan = by_app(plans_for(project, "dev", document))["pickmyclass"]
    assert plan.drifted
    assert drift_kinds(plan) == [("changed-id", "top", "KV")]
    assert f'+\t\t\t"id": "{"f" * 32}", // kvstack render fills this in' in plan.diff()


def test_check_catches_a_placeholder(project: Path) -> None:
    plan = by_app(plans_for(project, "dev"))["dubai-app-front"]
    assert ("placeholder", "top", "CHART_KV") in drift_kinds(plan)
    assert any("'PLACEHOLDER_CHART_KV_ID'" in f.message for f in plan.findings)
    assert '-id = "PLACEHOLDER_CHART_KV_ID" # kvstack render puts the real id here' in plan.diff()


def test_check_catches_a_missing_binding(project: Path) -> None:
    plan = by_app(plans_for(project, "dev"))["dubai-app-front"]
    assert ("missing-binding", "top", "WEBHOOK_KV") in drift_kinds(plan)


def test_check_catches_a_missing_preview_id(project: Path) -> None:
    render_all(project, "dev")
    path = project / "apps" / "pickmyclass" / "wrangler.jsonc"
    text = path.read_text()
    preview = hex_id("pickmyclass-dev-KV_preview")
    path.write_text(text.replace(f'\t\t\t"preview_id": "{preview}",\n', ""))
    plan = by_app(plans_for(project, "dev"))["pickmyclass"]
    assert drift_kinds(plan) == [("missing-preview-id", "top", "KV")]
    assert plan.new_text == text


def test_check_catches_an_environment_section_missing_its_bindings(project: Path) -> None:
    render_all(project, "prod")
    path = project / "apps" / "codex" / "wrangler.toml"
    text = path.read_text()
    stripped = re.sub(r"\[\[env\.production\.kv_namespaces\]\]\n(?:\w+ = .*\n)+\n", "", text)
    assert "env.production.kv_namespaces" not in stripped
    path.write_text(stripped)
    plan = by_app(plans_for(project, "prod"))["codex"]
    assert drift_kinds(plan) == [
        ("missing-binding", "env.production", "AUTH_SESSION_KV"),
        ("missing-binding", "env.production", "CACHE_KV"),
    ]


def test_optional_binding_absent_from_the_outputs_is_skipped(project: Path) -> None:
    document = outputs_document(project, "dev")
    del document["apps"]["dubai-app-front"]["bindings"]["WEBHOOK_KV"]
    plan = by_app(plans_for(project, "dev", document))["dubai-app-front"]
    assert "WEBHOOK_KV" not in plan.new_text
    assert "CHART_KV" in plan.new_text


def test_required_binding_absent_from_the_outputs_is_an_outputs_error(project: Path) -> None:
    document = outputs_document(project, "dev")
    del document["apps"]["codex"]["bindings"]["CACHE_KV"]
    with pytest.raises(OutputsError, match=r"no namespace ids for codex\.CACHE_KV"):
        plans_for(project, "dev", document)


def test_outputs_of_another_stack_are_refused(project: Path) -> None:
    document = copy.deepcopy(outputs_document(project, "prod"))
    with pytest.raises(OutputsError, match="outputs are of stack 'prod', not 'dev'"):
        plans_for(project, "dev", document)


def test_unknown_app_is_a_usage_error(project: Path) -> None:
    with pytest.raises(UsageError, match="declared apps: dubai-app-front, chatchonk-api, pickmyclass, codex"):
        plans_for(project, "dev", app="nope")


def test_pages_app_with_pages_build_output_dir_gets_a_warning(project: Path) -> None:
    path = project / "apps" / "dubai-app-front" / "wrangler.toml"
    path.write_text('pages_build_output_dir = ".vercel/output/static"\n' + path.read_text())
    plan = by_app(plans_for(project, "dev"))["dubai-app-front"]
    warnings = [f for f in plan.findings if f.kind == "pages-build-output-dir"]
    assert [(f.severity, f.app) for f in warnings] == [("warning", "dubai-app-front")]
    assert plan.new_text.startswith('pages_build_output_dir = ".vercel/output/static"\n')


def test_env_file_gets_the_token_only_with_secrets_and_masks_it(project: Path) -> None:
    without = by_app(plans_for(project, "dev"))["chatchonk-api"]
    assert "CLOUDFLARE_API_TOKEN=\n" in without.new_text
    assert not without.drifted  # a missing .env is not drift: it is never committed
    with_secrets = by_app(plans_for(project, "dev", with_secrets=True))["chatchonk-api"]
    assert f"CLOUDFLARE_API_TOKEN={TOKEN_VALUE}\n" in with_secrets.new_text
    assert "PORT=8080\n" in with_secrets.new_text  # started from .env.example
    assert TOKEN_VALUE not in with_secrets.diff()
    assert f"CLOUDFLARE_API_TOKEN={MASK}" in with_secrets.diff()
    assert TOKEN_VALUE not in with_secrets.masked(with_secrets.new_text)
    assert TOKEN_VALUE not in repr(with_secrets)
    write_plan(with_secrets)
    assert stat.S_IMODE((project / "apps" / "chatchonk-api" / ".env").stat().st_mode) == 0o600


def test_secret_values_are_masked_wherever_they_appear(tmp_path: Path) -> None:
    plan = FilePlan(
        path=tmp_path / "x.env",
        relpath="x.env",
        kind="env",
        format="env",
        app="a",
        old_text="COPY=s3cret-value\n",
        new_text="COPY=s3cret-value\nOTHER=1\n",
        secrets=("s3cret-value",),
    )
    # every value of a .env but kvstack's ids is masked: OTHER may be one of the app's own secrets
    assert plan.masked(plan.new_text) == f"COPY={MASK}\nOTHER={MASK}\n"
    assert "s3cret-value" not in plan.diff()


def test_hand_written_token_is_masked_and_kept_without_secrets(project: Path) -> None:
    env = project / "apps" / "chatchonk-api" / ".env"
    env.write_text("CLOUDFLARE_API_TOKEN=typed-by-hand-123\nCLOUDFLARE_ACCOUNT_ID=x\n")
    plan = by_app(plans_for(project, "dev"))["chatchonk-api"]
    assert "CLOUDFLARE_API_TOKEN=typed-by-hand-123\n" in plan.new_text
    assert "typed-by-hand-123" not in plan.diff()


def test_into_renders_a_copy_from_the_projects_files_then_from_its_own(project: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    original = (project / "apps" / "codex" / "wrangler.toml").read_text()
    first = by_app(plans_for(project, "dev", base_dir=tree))["codex"]
    assert first.path == tree / "apps" / "codex" / "wrangler.toml"
    assert first.created
    assert first.seed == project / "apps" / "codex" / "wrangler.toml"
    write_plan(first)
    assert (project / "apps" / "codex" / "wrangler.toml").read_text() == original
    (tree / "apps" / "codex" / "wrangler.toml").write_text(first.new_text + "# local note\n")
    second = by_app(plans_for(project, "dev", base_dir=tree))["codex"]
    assert (second.created, second.changed, second.seed) == (False, False, None)


def test_rewritten_wrangler_file_keeps_its_permissions(project: Path) -> None:
    path = project / "apps" / "codex" / "wrangler.toml"
    path.chmod(0o640)
    assert write_plan(by_app(plans_for(project, "dev"))["codex"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_file_that_does_not_parse_is_an_error_naming_it(project: Path) -> None:
    path = project / "apps" / "codex" / "wrangler.toml"
    path.write_text(path.read_text() + "\nthis is not toml\n")
    with pytest.raises(WranglerFileError) as caught:
        plans_for(project, "dev")
    assert caught.value.file == "apps/codex/wrangler.toml"
    assert caught.value.line is not None
