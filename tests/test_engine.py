"""kvstack.engine: the real program run in-process against any Mocks, repeatably, errors mapped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest

from kvstack import names
from kvstack.engine import load_adapter, run_program
from kvstack.errors import CloudflareError, ProgramError
from tests.pulumi_fake import (
    ACCOUNT_TOKEN,
    KV_NAMESPACE,
    PAGES_PROJECT,
    PERMISSION_GROUPS_LIST,
    ROOT,
    Doc,
    FakeCloudflare,
    catalog_copy,
    run,
)


def test_one_process_runs_dev_prod_and_dev_again_with_fresh_state() -> None:
    first, prod, again = run("dev"), run("prod"), run("dev")
    assert [(r.urn, r.id) for r in first.resources] == [(r.urn, r.id) for r in again.resources]
    assert first.exports == again.exports
    assert prod.export(names.OUTPUTS_EXPORT)["environment"] == "prod"
    assert all(r.urn.startswith("urn:pulumi:prod::kvstack::") for r in prod.resources)
    assert len(first.resources) == len(again.resources) == 29


def test_the_program_reads_the_catalog_of_the_root_it_is_given(tmp_path: Path) -> None:
    def move_account(_: Doc, config: Doc) -> None:
        config["kvstack:account_id"] = "ffffffffffffffffffffffffffffffff"

    program = run("dev", root=catalog_copy(tmp_path, "dev", move_account))
    assert program.root == tmp_path.resolve()
    assert program.export(names.OUTPUTS_EXPORT)["account_id"] == "ffffffffffffffffffffffffffffffff"


def test_a_failed_run_leaves_nothing_behind_for_the_next() -> None:
    with pytest.raises(CloudflareError):
        run("dev", mocks=_Refusing(CloudflareError("refused", status=400)))
    assert len(run("dev").resources) == 29


def test_the_callers_pulumi_state_and_sys_path_are_left_alone() -> None:
    from pulumi.runtime import settings

    path_before = list(sys.path)
    main_before = sys.modules["__main__"]
    run("dev")
    assert settings.get_root_resource() is None
    assert sys.path == path_before
    assert sys.modules["__main__"] is main_before


def test_mocks_see_only_provider_resources_never_components() -> None:
    fake = FakeCloudflare()
    run("dev", mocks=fake)
    assert {args.typ for args in fake.created} == {KV_NAMESPACE, PAGES_PROJECT, ACCOUNT_TOKEN}
    assert all(args.custom for args in fake.created)


class _Refusing(FakeCloudflare):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        if args.typ == KV_NAMESPACE and args.inputs["title"] == "codex-dev-CACHE_KV":
            raise self.error
        return super().new_resource(args)


def test_a_kvstack_error_from_the_mocks_is_raised_unchanged() -> None:
    refusal = CloudflareError("a namespace with this title already exists", status=400, codes=(10014,))
    with pytest.raises(CloudflareError) as raised:
        run("dev", mocks=_Refusing(refusal))
    assert raised.value is refusal


def test_any_other_failure_becomes_a_program_error_naming_the_stack() -> None:
    with pytest.raises(ProgramError, match=r"failed for stack dev: ValueError: socket closed") as raised:
        run("dev", mocks=_Refusing(ValueError("socket closed")))
    assert raised.value.exit_code == 2
    assert isinstance(raised.value.__cause__, ValueError)


def test_a_missing_program_is_a_program_error(tmp_path: Any) -> None:
    with pytest.raises(ProgramError, match="no Pulumi program"):
        run_program(ROOT, "dev", FakeCloudflare(), program=tmp_path)


def test_the_adapter_names_the_tokens_the_sdk_really_registers_and_calls() -> None:
    adapter = load_adapter()
    fake = FakeCloudflare()
    program = run("prod", mocks=fake)
    registered = {r.type for r in program.resources if r.custom}
    assert registered == {adapter.KV_NAMESPACE, adapter.PAGES_PROJECT, adapter.ACCOUNT_TOKEN}
    assert [c.token for c in fake.calls] == [adapter.PERMISSION_GROUPS_LIST] == [PERMISSION_GROUPS_LIST]
    (imported,) = [r for r in program.of_type(KV_NAMESPACE) if r.import_id]
    assert adapter.read_import_namespace_id(imported.import_id) == imported.id


def test_stack_output_hides_secrets_like_the_pulumi_cli() -> None:
    program = run("dev")
    hidden = program.stack_output()
    assert hidden[names.TOKEN_VALUES_EXPORT] == "[secret]"
    assert hidden[names.OUTPUTS_EXPORT] == program.export(names.OUTPUTS_EXPORT)
    assert program.stack_output(show_secrets=True)[names.TOKEN_VALUES_EXPORT]["deploy"].startswith("fake-secret-")


def test_kvstack_never_imports_pulumi_at_module_import_time() -> None:
    code = (
        "import sys, kvstack.engine, kvstack.plan, kvstack.cli, kvstack.cli.plan;"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_cloudflare'));"
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    assert result.returncode == 0, f"pulumi imported at module import time: {result.stdout}{result.stderr}"
