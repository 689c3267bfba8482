"""`kvstack render`: exit codes, what it prints, what it writes, and what it never prints."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from kvstack.render import MASK
from tests.cli.conftest import run_kvstack
from tests.render.conftest import CORPUS, TOKEN_VALUE, copy_project, hex_id, outputs_document, write_outputs
from tests.render.corpus import need_corpus

A = "a" * 32
B = "b" * 32
SEED_FILES = ("apps/dubai-app-front/wrangler.toml", "apps/pickmyclass/wrangler.jsonc", "apps/codex/wrangler.toml")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = copy_project(tmp_path / "project")
    write_outputs(root / "dev.outputs.json", outputs_document(root, "dev"))
    return root


def render(project: Path, *args: str, stack: str = "dev") -> tuple[int, str, str]:
    result = run_kvstack(
        "render", "--stack", stack, "--root", str(project), "--outputs", str(project / f"{stack}.outputs.json"), *args
    )
    return result.returncode, result.stdout, result.stderr


def snapshot(project: Path) -> dict[str, bytes]:
    return {str(p.relative_to(project)): p.read_bytes() for p in sorted((project / "apps").rglob("*")) if p.is_file()}


def test_check_on_the_seed_apps_exits_1_with_a_diff_per_file_and_writes_nothing(project: Path) -> None:
    before = snapshot(project)
    code, out, err = render(project, "--check")
    assert code == 1
    for relpath in SEED_FILES:
        assert f"--- a/{relpath}\n+++ b/{relpath}\n" in out
    assert '-id = "PLACEHOLDER_CHART_KV_ID" # kvstack render puts the real id here' in out
    assert f'+id = "{hex_id("dubai-app-front-dev-CHART_KV")}" # kvstack render puts the real id here' in out
    for kind in ("placeholder", "missing-preview-id", "missing-binding"):
        assert kind in out
    assert "[env.staging]" in out  # escaped, not swallowed as markup
    assert "3 of 5 file(s) drifted" in err  # the two .env files do not exist: not drift
    assert snapshot(project) == before


def test_render_writes_then_check_passes_and_a_second_render_changes_nothing(project: Path) -> None:
    code, out, err = render(project)
    assert code == 0, err
    assert "updated" in out
    rendered = snapshot(project)
    assert render(project, "--check")[0] == 0
    code, out, err = render(project)
    assert code == 0
    assert "0 of 5 file(s) written" in err
    assert snapshot(project) == rendered
    assert list(project.rglob("*.kvstack-tmp")) == []


def test_missing_wrangler_file_is_created_minimal_and_the_output_says_so(project: Path) -> None:
    path = project / "apps" / "pickmyclass" / "wrangler.jsonc"
    path.unlink()
    code, out, _ = render(project, "--app", "pickmyclass", "--check")
    assert code == 1
    assert "missing-file" in out
    code, out, err = render(project, "--app", "pickmyclass")
    assert code == 0, err
    assert "created" in out
    assert f"created {path} minimal" in err
    assert path.read_text().startswith('// Created by `kvstack render`: add "main", "compatibility_date"')
    assert render(project, "--app", "pickmyclass", "--check")[0] == 0


def test_with_secrets_writes_the_env_file_0600_and_never_prints_the_token(project: Path) -> None:
    code, out, err = render(project, "--app", "chatchonk-api", "--with-secrets")
    assert code == 0, err
    env = project / "apps" / "chatchonk-api" / ".env"
    assert f"CLOUDFLARE_API_TOKEN={TOKEN_VALUE}\n" in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert TOKEN_VALUE not in out + err
    env.write_text(env.read_text().replace(TOKEN_VALUE, "hand-typed-old-token"))
    code, out, err = render(project, "--app", "chatchonk-api", "--with-secrets", "--check")
    assert code == 1
    assert "+++ b/apps/chatchonk-api/.env\n@@ a secret value differs (both hidden) @@\n" in out
    assert "differs from the outputs (value hidden)" in out
    assert TOKEN_VALUE not in out + err
    assert "hand-typed-old-token" not in out + err


def test_stdout_prints_the_rendered_file_with_the_token_masked_and_writes_nothing(project: Path) -> None:
    code, out, err = render(project, "--app", "chatchonk-api", "--with-secrets", "--stdout")
    assert code == 0, err
    assert out.startswith("# chatchonk-api: the backend's KV REST cache")
    assert f"CLOUDFLARE_API_TOKEN={MASK}\n" in out
    assert TOKEN_VALUE not in out + err
    assert not (project / "apps" / "chatchonk-api" / ".env").exists()


def test_file_that_does_not_parse_exits_2_with_line_and_column_and_nothing_is_written(project: Path) -> None:
    need_corpus()
    broken = (CORPUS / "files" / "023-cloudflare-temp-email-pr810.toml").read_bytes()
    (project / "apps" / "codex" / "wrangler.toml").write_bytes(broken)
    before = snapshot(project)
    code, _, err = render(project)
    assert code == 2
    assert "apps/codex/wrangler.toml:62:1: not valid TOML" in err
    assert "Traceback" not in err
    assert snapshot(project) == before  # not even the other apps' files


def test_corpus_file_that_does_not_parse_exits_2_in_file_mode_and_stays_untouched(tmp_path: Path) -> None:
    need_corpus()
    path = tmp_path / "wrangler.toml"
    shutil.copyfile(CORPUS / "files" / "023-cloudflare-temp-email-pr810.toml", path)
    before = path.read_bytes()
    result = run_kvstack("render", "--file", str(path), "--bind", f"KV={A},{B}")
    assert result.returncode == 2
    assert f"{path}:62:1:" in result.stderr
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["wrangler.toml"]  # no temporary file left behind


def test_file_mode_merges_bindings_into_one_environment_and_checks_it(tmp_path: Path) -> None:
    need_corpus()
    path = tmp_path / "wrangler.jsonc"
    shutil.copyfile(CORPUS / "files" / "013-model-scraper.jsonc", path)
    result = run_kvstack("render", "--file", str(path), "--env", "staging", "--bind", f"JSON_DATA={A},{B}")
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert text.count(A) == 1
    assert f'"preview_id": "{B}",' in text
    assert (
        run_kvstack(
            "render", "--file", str(path), "--env", "staging", "--bind", f"JSON_DATA={A},{B}", "--check"
        ).returncode
        == 0
    )
    drift = run_kvstack("render", "--file", str(path), "--env", "staging", "--bind", f"JSON_DATA={'c' * 32}", "--check")
    assert drift.returncode == 1
    assert "changed-id" in drift.stdout
    assert path.read_text() == text


def test_file_mode_creates_a_missing_file_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "worker" / "wrangler.toml"
    result = run_kvstack("render", "--file", str(path), "--bind", f"KV={A}")
    assert result.returncode == 0, result.stderr
    assert f"created {path} minimal" in result.stderr
    assert path.read_text().endswith(f'name = "worker"\n\n[[kv_namespaces]]\nbinding = "KV"\nid = "{A}"\n')


def test_check_format_json_is_machine_readable(project: Path) -> None:
    code, out, _ = render(project, "--check", "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert document["drift"] is True
    files = {f["relpath"]: f for f in document["files"]}
    assert files["apps/codex/wrangler.toml"]["drifted"] is True
    assert files["apps/codex/wrangler.toml"]["diff"].startswith("--- a/apps/codex/wrangler.toml")
    assert files["apps/chatchonk-api/.env"]["drifted"] is False
    kinds = {(f["app"], f["kind"], f["binding"]) for f in document["findings"]}
    assert ("codex", "missing-binding", "CACHE_KV") in kinds


def test_into_renders_into_another_folder_and_leaves_the_project_alone(project: Path, tmp_path: Path) -> None:
    before = snapshot(project)
    tree = tmp_path / "tree"
    code, _, err = render(project, "--into", str(tree))
    assert code == 0, err
    assert snapshot(project) == before
    assert hex_id("codex-dev-CACHE_KV") in (tree / "apps" / "codex" / "wrangler.toml").read_text()
    assert (tree / "apps" / "chatchonk-api" / ".env").is_file()


def test_outputs_of_another_stack_exit_2(project: Path) -> None:
    write_outputs(project / "prod.outputs.json", outputs_document(project, "prod"))
    result = run_kvstack(
        "render", "--stack", "dev", "--root", str(project), "--outputs", str(project / "prod.outputs.json")
    )
    assert result.returncode == 2
    assert "the outputs are of stack 'prod', not 'dev'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bind", f"KV={A}"], "--bind and --env go with --file"),
        (["--file", "w.toml"], "--file needs at least one --bind"),
        (["--file", "w.toml", "--bind", "KV=PLACEHOLDER"], "'PLACEHOLDER' is not a namespace id"),
        (["--file", "w.toml", "--bind", f"KV={A}", "--app", "codex"], "--app is for catalog renders"),
        (["--stack", "dev", "--check", "--stdout"], "--check and --stdout do not go together"),
        (["--file", "w.yaml", "--bind", f"KV={A}"], "not a wrangler file name"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_kvstack("render", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []
