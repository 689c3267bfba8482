"""`kvstack check` as users run it: exit codes, the summary per app and kind, the files it writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli.conftest import run_kvstack
from tests.fakecloudflare import TOKEN

from .conftest import World


def _check(world: World, *args: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KVSTACK_", "CLOUDFLARE_"))}
    if token is not None:
        env["CLOUDFLARE_API_TOKEN"] = token
    result = run_kvstack(
        "check",
        "--stack",
        "dev",
        "--root",
        str(world.root),
        "--outputs",
        str(world.root / "outputs.json"),
        "--api-url",
        world.fake.base_url,
        *args,
        env=env,
    )
    return result.returncode, result.stdout, result.stderr


def test_healthy_stack_exits_0_with_a_summary_table(world: World, tmp_path: Path) -> None:
    code, out, err = _check(world, "--only", "bindings,tokens", "--json", str(tmp_path / "r.json"))
    assert code == 0, out + err
    assert "checks per app and kind" in out
    assert "pickmyclass" in out
    assert " passed, 0 failed, 0 errors" in out
    assert "spent " in out
    assert json.loads((tmp_path / "r.json").read_text())["exit_code"] == 0
    for secret in world.values.values():
        assert secret not in out + err


def test_failed_check_exits_1_and_says_what_and_where(world: World, tmp_path: Path) -> None:
    del world.fake.scripts["pickmyclass"]
    code, out, _ = _check(world, "--only", "bindings", "--junit", str(tmp_path / "j.xml"))
    assert code == 1
    assert "✗ bindings test_worker_settings_list_the_declared_bindings[pickmyclass top]" in out
    assert "found no script named 'pickmyclass'" in out
    assert (tmp_path / "j.xml").is_file()


def test_usage_and_configuration_errors_exit_2(world: World) -> None:
    code, _, err = _check(world, "--only", "bindings,nope")
    assert code == 2
    assert "--only: unknown kind(s) nope" in err
    code, _, err = _check(world, "--app", "nope")
    assert code == 2
    assert "no app named 'nope' in stack dev" in err
    code, _, err = _check(world, token=None)
    assert code == 2
    assert "no API token: CLOUDFLARE_API_TOKEN is not set" in err


def test_rejected_api_token_exits_2(world: World) -> None:
    code, out, _ = _check(world, "--only", "bindings", "-k", "namespace", token="not-a-valid-token-for-this-account")
    assert code == 2
    assert "HTTP 401: 10000 Authentication error" in out
    assert "not-a-valid-token" not in out


def test_no_check_matching_the_selection_exits_2(world: World) -> None:
    code, out, _ = _check(world, "--only", "tokens", "-k", "no_such_check")
    assert code == 2
    assert "no check matched the selection" in out
