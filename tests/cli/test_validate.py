"""`kvstack validate`: exit codes and what it says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, invoke, run_kvstack
from tests.render.conftest import copy_project


def test_validate_seed_catalog_exits_0_and_lists_every_binding() -> None:
    result = run_kvstack("validate", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    for title in ("dubai-app-front-dev-CHART_KV", "codex-dev-AUTH_SESSION_KV_preview", "pickmyclass-dev-KV"):
        assert title in result.stdout
    assert "4 apps, 6 bindings, 3 tokens" in result.stderr


def test_validate_json_is_machine_readable() -> None:
    result = run_kvstack("validate", "--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["protect"] is True
    adopted = [b for b in document["bindings"] if b["action"].startswith("adopt")]
    assert [b["title"] for b in adopted] == ["chatchonk-api-prod-CACHE_KV"]


def test_validate_broken_catalog_exits_2_with_location_on_stderr(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("kvstack:protect: false", "kvstack:protect: maybe")
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    result = run_kvstack("validate", "--stack", "dev", "--root", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Pulumi.dev.yaml:5:" in result.stderr
    assert "config.kvstack:protect" in result.stderr
    assert "'maybe' is not of type boolean" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_unknown_stack_exits_2() -> None:
    result = run_kvstack("validate", "--stack", "qa")
    assert result.returncode == 2
    assert "choose one of the stacks: dev, prod" in result.stderr


def test_validate_outside_a_project_says_where_it_looked(tmp_path: Path) -> None:
    result = run_kvstack("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "no Pulumi.yaml" in result.stderr
    assert "--root" in result.stderr


# --- validation that matches reality: the files the catalog points at, and the other stacks -----------

KEYSPACE = "keyspaces/class-state.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


def validate(project: Path, capsys: pytest.CaptureFixture[str], stack: str = "dev") -> tuple[int, str]:
    code, out, err = invoke("validate", "--stack", stack, "--root", str(project), capsys=capsys)
    return code, out + err


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_a_binding_whose_keyspace_has_no_file_exits_2_at_the_binding(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / KEYSPACE).unlink()
    code, err = validate(project, capsys)
    assert code == 2
    line = next(i for i, t in enumerate((project / "Pulumi.yaml").read_text().splitlines(), 1) if "class-state" in t)
    assert f"Pulumi.yaml:{line}:" in err
    assert "keyspace 'class-state' of pickmyclass.KV has no file keyspaces/class-state.yaml" in err


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("unknown_keys: forbidden", "unknown_keys: maybe", ":3:", "'maybe' is not one of 'allowed', 'forbidden'"),
        ("ttl: {policy: required, min: 60, max: 3600}", "ttl: {policy: none}", ":8:", "'none' is not one of"),
        ("min: 60, max: 3600", "min: -5, max: 3600", ":8:", "-5 is less than the minimum of 60"),
        ("unknown_keys: forbidden", "unknown_keys: [forbidden", ":4:", "YAML does not parse"),
        ("class_state:{class_nbr:int}", "class_state:{class_nbr:float}", ":6:", "does not match"),
        ("type: object\n", "type: objekt\n", ":12:", "not a valid JSON Schema"),
        ("minLength: 1}", "pattern: '['}", ":19:", "not a valid JSON Schema: '[' is not a 'regex'"),
    ],
    ids=["unknown-keys-maybe", "ttl-policy-none", "negative-ttl", "garbage-yaml", "bad-placeholder", "bad-schema",
         "bad-regex"],
)  # fmt: skip
def test_an_invalid_keyspace_file_exits_2_with_its_line(
    project: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, where: str, message: str
) -> None:
    edit(project / KEYSPACE, old, new)
    code, err = validate(project, capsys)
    assert code == 2, err
    assert f"{KEYSPACE}{where}" in err
    assert message in err


def test_two_stacks_owning_one_section_of_one_file_exit_2_naming_both(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # pickmyclass listed in neither stack file: both stacks would own its top level
    for stack in ("dev", "prod"):
        path = project / f"Pulumi.{stack}.yaml"
        text = path.read_text()
        start = text.index("    pickmyclass:\n")
        end = text.index("    codex:\n")
        path.write_text(text[:start] + text[end:])
    code, err = validate(project, capsys)
    assert code == 2
    assert "stacks dev and prod both own the top level of apps/pickmyclass/wrangler.jsonc" in err
    assert "no `sections` given" in err
    assert validate(project, capsys, "prod")[0] == 2


def test_a_wrangler_file_binding_a_name_twice_exits_2_at_validate_with_the_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "apps/codex/wrangler.toml"
    text = path.read_text()
    doubled = text + '\n[[env.staging.kv_namespaces]]\nbinding = "AUTH_SESSION_KV"\nid = "x"\n'
    path.write_text(doubled)
    code, err = validate(project, capsys)
    assert code == 2
    line = len(text.splitlines()) + 3
    assert (
        f"apps/codex/wrangler.toml:{line}:1: kv binding AUTH_SESSION_KV is declared 2 times in the [env.staging]" in err
    )
    assert path.read_text() == doubled


def test_stacks_sharing_an_account_stay_within_1000_namespaces(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(project / "Pulumi.prod.yaml", "fedcba9876543210fedcba9876543210", "0123456789abcdef0123456789abcdef")
    bindings = "".join(f"            K{i}: {{}}\n" for i in range(490))
    edit(
        project / "Pulumi.yaml",
        "          bindings:\n            KV:\n",
        "          bindings:\n" + bindings + "            KV:\n",
    )
    code, err = validate(project, capsys)
    assert code == 2, err
    assert "stacks dev, prod share account 0123456789abcdef0123456789abcdef and declare 1984 namespaces" in err
    assert "Cloudflare allows 1000 per account" in err


def test_validate_lists_every_problem_each_with_file_and_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(project / "Pulumi.dev.yaml", "kvstack:protect: false", "kvstack:protect: maybe")
    edit(project / "Pulumi.dev.yaml", "0123456789abcdef0123456789abcdef", '"0123456789abcdef0123456789abcdef\\n"')
    edit(project / "Pulumi.yaml", "kind: worker", "kind: lambda")
    code, err = validate(project, capsys)
    assert code == 2
    assert err.count("Pulumi.dev.yaml:") == 2
    assert err.count("Pulumi.yaml:") == 1
    assert "3 problems:" in err
    assert "more problem" not in err
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (project / "Pulumi.dev.yaml").write_text((ROOT / "Pulumi.dev.yaml").read_text())
    edit(project / KEYSPACE, "unknown_keys: forbidden", "unknown_keys: maybe")
    edit(project / KEYSPACE, "ttl: {policy: required, min: 60, max: 3600}", "ttl: {policy: none}")
    (project / "keyspaces/codex-cache.yaml").unlink()
    code, err = validate(project, capsys)
    assert code == 2
    assert err.count(f"{KEYSPACE}:") == 2
    assert "keyspace 'codex-cache' of codex.CACHE_KV has no file" in err


# --- Redis keyspaces of stores: validated as strictly as KV keyspaces ----------------------------------

ENERGY = "keyspaces/energy.yaml"


def line_of(path: Path, text: str) -> int:
    """The last line holding ``text`` (an edit replaces the first occurrence of what it changes)."""
    return max(i for i, t in enumerate(path.read_text().splitlines(), 1) if text in t)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    type: hash\n", "    type: hashmap\n", "'hashmap' is not one of 'string', 'hash', 'list', 'set', 'zset'"),
        ('regex: "^user_[A-Za-z0-9]+$"', 'regex: "^user_[A-Za-z0-9+$"', "not a valid regular expression"),
        ("ttl: {policy: optional, max: 86400}", "ttl: {policy: forbidden, max: 86400}", "has no TTL bounds"),
        ('key: "username:{username}"', 'key: "username:{username:float}"', "does not match"),
        ('key: "username:{username}"', 'key: "latest:system:{systemId:int}"', "is declared twice"),
        ("items: {type: integer}", "items: {type: integr}", "not a valid JSON Schema"),
        ("unknown_keys: forbidden", "unknown_keys: never", "'never' is not one of 'allowed', 'forbidden'"),
    ],
    ids=["unknown-type", "bad-regex", "ttl-bounds-without-ttl", "bad-placeholder", "key-twice", "bad-schema",
         "unknown-keys-never"],
)  # fmt: skip
def test_an_invalid_redis_keyspace_of_a_store_exits_2_with_its_line(
    project: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    edit(project / ENERGY, old, new)
    code, err = validate(project, capsys)
    assert code == 2, err
    assert f"{ENERGY}:{line_of(project / ENERGY, new.strip())}:" in err
    assert message in err


def test_a_store_whose_keyspace_has_no_file_or_is_a_kv_one_exits_2_at_the_store(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ENERGY).unlink()
    code, err = validate(project, capsys)
    assert code == 2
    assert f"Pulumi.yaml:{line_of(project / 'Pulumi.yaml', 'keyspace: energy')}:" in err
    assert "keyspace 'energy' of store energy-cache has no file keyspaces/energy.yaml" in err
    edit(project / "Pulumi.yaml", "keyspace: energy", "keyspace: chart")
    code, err = validate(project, capsys)
    assert code == 2
    assert "keyspaces/chart.yaml" in err
    assert "an Upstash store needs `kind: redis`" in err


def test_every_problem_of_a_redis_keyspace_is_listed_with_its_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(project / ENERGY, 'regex: "^user_[A-Za-z0-9]+$"', 'regex: "^user_[A-Za-z0-9+$"')
    edit(project / ENERGY, "items: {type: integer}", "items: {type: integr}")
    code, err = validate(project, capsys)
    assert code == 2
    assert f"{ENERGY}:{line_of(project / ENERGY, 'regex:')}:" in err
    assert f"{ENERGY}:{line_of(project / ENERGY, 'items:')}:" in err
    assert "2 problems:" in err
