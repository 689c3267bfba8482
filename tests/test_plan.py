"""kvstack.plan: the program evaluated offline with deterministic placeholders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvstack.errors import CatalogError
from kvstack.outputs import read_outputs_file
from kvstack.plan import Plan, placeholder_id, plan
from tests.pulumi_fake import ROOT, Doc, catalog_copy

DEV_ACCOUNT = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def dev_plan() -> Plan:
    return plan(ROOT, "dev")


def test_placeholder_ids_are_hashed_from_account_and_title_and_stable(dev_plan: Plan) -> None:
    again = plan(ROOT, "dev")
    assert again.to_json() == dev_plan.to_json()
    namespaces = [r for r in dev_plan.resources if r.short_type == "WorkersKvNamespace"]
    assert len(namespaces) == 12
    for namespace in namespaces:
        assert namespace.id == placeholder_id(DEV_ACCOUNT, "namespace", str(namespace.title)), namespace.name


def test_an_adopted_namespace_keeps_its_real_id() -> None:
    prod = plan(ROOT, "prod")
    cache = prod.outputs.apps["chatchonk-api"].bindings["CACHE_KV"]
    assert cache.id == "5f1e2d3c4b5a69788796a5b4c3d2e1f0"
    (imported,) = [r for r in prod.resources if r.import_id]
    assert (imported.title, imported.action) == ("chatchonk-api-prod-CACHE_KV", "import")


def test_plan_shows_pages_bindings_and_token_policies_by_name(dev_plan: Plan) -> None:
    by_title = {r.title: r.id for r in dev_plan.custom_resources()}
    (pages,) = [r for r in dev_plan.resources if r.bindings]
    assert pages.bindings["production"]["CHART_KV"] == by_title["dubai-app-front-dev-CHART_KV"]
    assert pages.bindings["preview"]["CHART_KV"] == by_title["dubai-app-front-dev-CHART_KV_preview"]
    policies = {r.name: r.policies for r in dev_plan.resources if r.policies}
    (runtime,) = policies["chatchonk-api-runtime"]
    assert runtime.permission_groups == ("Workers KV Storage Write",)
    assert dict(runtime.resources) == {f"com.cloudflare.api.account.{DEV_ACCOUNT}": "*"}


def test_plan_json_is_readable_as_an_outputs_file(dev_plan: Plan, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    saved.write_text(json.dumps(dev_plan.to_json()))
    outputs = read_outputs_file(saved)
    assert outputs == dev_plan.outputs.__class__(**{**dev_plan.outputs.__dict__, "source": str(saved)})
    assert len(json.loads(saved.read_text())["resources"]) == len(dev_plan.resources) == 29


def test_plan_refuses_a_catalog_asking_for_a_group_cloudflare_does_not_have(tmp_path: Path) -> None:
    def typo(catalog: Doc, _: Doc) -> None:
        catalog["tokens"]["audit"]["permissions"][0] = "Workers KV Storage Reads"

    with pytest.raises(CatalogError, match="token audit asks for permission group 'Workers KV Storage Reads'") as e:
        plan(catalog_copy(tmp_path, "dev", typo), "dev")
    assert "did you mean 'Workers KV Storage Read'" in str(e.value)
