"""`kvstack check` as users run it: exit codes, the summary per app and kind, the files it writes.

On the fake Cloudflare, a real target (`--outputs`, `--api-url`, CLOUDFLARE_API_TOKEN): a token of the
caller's choosing (a rejected one), apps without URLs (flows that skip) and an outputs file the test edits are
what `--local` cannot take, since it reads all three from the running `local up`. A planted defect failing
the command (exit 1, the ✗ line, JUnit) runs on the local Cloudflare in test_local.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli.conftest import run_kvstack
from tests.fakecloudflare import TOKEN

from .conftest import World


def _check(
    world: World, *args: str, token: str | None = TOKEN, extra_env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KVSTACK_", "CLOUDFLARE_"))}
    if token is not None:
        env["CLOUDFLARE_API_TOKEN"] = token
    env.update(extra_env or {})
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


def test_skipped_flows_exit_1_unless_their_kind_may_skip(world: World, tmp_path: Path) -> None:
    # The fake serves no app: every flow but the REST one (which needs only the API) skips for want of a URL.
    code, out, _ = _check(world, "--only", "flows", "--json", str(tmp_path / "refused.json"))
    assert code == 1, out
    assert (
        "- skipped flows test_chart_webhook_reaches_the_stream_and_kv[dubai-app-front] "
        "(fails the run; allow with --allow-skip flows)"
    ) in out
    refused = json.loads((tmp_path / "refused.json").read_text())
    assert {s["kind"] for s in refused["skips"]} == {"flows"}
    assert all(not s["allowed"] and "no URL for" in s["reason"] for s in refused["skips"])
    assert [c for c in refused["coverage"] if c["kind"] == "flows"] == [
        {"kind": "flows", "declared": 5, "checked": 1, "skipped": 4, "missing": 0, "not_run": 0}
    ]
    code, out, _ = _check(world, "--only", "flows", "--allow-skip", "flows")
    assert code == 0, out
    assert "(allowed by --allow-skip)" in out


def test_allow_skip_from_the_environment_and_unknown_kinds(world: World) -> None:
    code, out, _ = _check(world, "--only", "flows", extra_env={"KVSTACK_ALLOW_SKIP": "tokens,flows"})
    assert code == 0, out
    code, _, err = _check(world, "--allow-skip", "nope")
    assert code == 2
    assert "--allow-skip: unknown kind(s) nope" in err


def test_token_missing_from_the_outputs_exits_1_naming_it(world: World, tmp_path: Path) -> None:
    path = world.root / "outputs.json"
    document = json.loads(path.read_text())
    del document["kvstack"]["tokens"]["audit"]
    path.write_text(json.dumps(document))
    code, out, _ = _check(world, "--only", "tokens", "--json", str(tmp_path / "r.json"))
    assert code == 1
    assert "audit: expected token audit (kvstack-dev-audit) in the outputs document" in out
    assert "checked of what the catalog declares: tokens 2/3, 1 missing\n" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["coverage"] == [
        {"kind": "tokens", "declared": 3, "checked": 2, "skipped": 0, "missing": 1, "not_run": 0}
    ]
