"""The Pulumi program of infra/, evaluated against a fake Cloudflare for the dev and prod stacks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from kvstack import names
from kvstack.engine import ProgramRun
from kvstack.errors import CatalogError
from kvstack.schemas import load_schema
from tests.pulumi_fake import (
    ACCOUNT_TOKEN,
    FAKE_GROUPS,
    KV_NAMESPACE,
    PAGES_PROJECT,
    Doc,
    FakeCloudflare,
    catalog_copy,
    run,
    seed,
    titles_to_ids,
    token_value,
)

STACKS = ["dev", "prod"]


@pytest.fixture(params=STACKS)
def program(request: pytest.FixtureRequest) -> ProgramRun:
    fixture: ProgramRun = request.getfixturevalue(f"{request.param}_run")
    return fixture


def test_each_stack_registers_two_namespaces_per_binding_one_pages_project_and_every_token(
    program: ProgramRun,
) -> None:
    catalog, _ = seed(program.stack)
    bindings = sum(len(app["bindings"]) for app in catalog["apps"].values())
    pages_apps = sum(1 for app in catalog["apps"].values() if app["kind"] == "pages")
    counts = {t: len(program.of_type(t)) for t in (KV_NAMESPACE, PAGES_PROJECT, ACCOUNT_TOKEN)}
    assert counts == {KV_NAMESPACE: 2 * bindings, PAGES_PROJECT: pages_apps, ACCOUNT_TOKEN: len(catalog["tokens"])}, (
        f"stack {program.stack}: expected a namespace and a preview twin for each of {bindings} bindings"
    )


def test_namespace_titles_are_derived_and_every_namespace_has_a_preview_twin(program: ProgramRun) -> None:
    catalog, config = seed(program.stack)
    environment = config["kvstack:environment"]
    expected = set()
    for app, spec in catalog["apps"].items():
        for binding in spec["bindings"]:
            expected |= {f"{app}-{environment}-{binding}", f"{app}-{environment}-{binding}_preview"}
    titles = [r.inputs["title"] for r in program.of_type(KV_NAMESPACE)]
    assert sorted(titles) == sorted(expected), f"stack {program.stack}: namespace titles"


def test_pages_production_binds_production_ids_and_preview_binds_preview_ids(program: ProgramRun) -> None:
    ids = titles_to_ids(program)
    environment = program.stack
    (project,) = program.of_type(PAGES_PROJECT)
    configs = project.inputs["deploymentConfigs"]
    production = {b: e["namespaceId"] for b, e in configs["production"]["kvNamespaces"].items()}
    preview = {b: e["namespaceId"] for b, e in configs["preview"]["kvNamespaces"].items()}
    app = "dubai-app-front"
    assert production == {b: ids[f"{app}-{environment}-{b}"] for b in ("CHART_KV", "WEBHOOK_KV")}, (
        "production deployments must bind the production namespaces"
    )
    assert preview == {b: ids[f"{app}-{environment}-{b}_preview"] for b in ("CHART_KV", "WEBHOOK_KV")}, (
        "preview deployments must bind the preview namespaces"
    )


@pytest.mark.parametrize(
    ("stack", "name", "branch"), [("dev", "dubai-app-front-dev", "develop"), ("prod", "dubai-app-front", "main")]
)
def test_pages_project_name_and_branch_come_from_the_stack(stack: str, name: str, branch: str) -> None:
    (project,) = run(stack).of_type(PAGES_PROJECT)
    assert (project.inputs["name"], project.inputs["productionBranch"]) == (name, branch)


def test_token_policies_hold_exactly_the_declared_groups_on_this_account_only(program: ProgramRun) -> None:
    catalog, config = seed(program.stack)
    account = config["kvstack:account_id"]
    tokens = {r.inputs["name"]: r for r in program.of_type(ACCOUNT_TOKEN)}
    assert set(tokens) == {f"kvstack-{config['kvstack:environment']}-{key}" for key in catalog["tokens"]}
    for key, spec in catalog["tokens"].items():
        token = tokens[f"kvstack-{config['kvstack:environment']}-{key}"]
        assert token.inputs["accountId"] == account
        (policy,) = token.inputs["policies"]
        assert policy["effect"] == "allow", key
        assert [g["id"] for g in policy["permissionGroups"]] == [FAKE_GROUPS[n] for n in spec["permissions"]], (
            f"token {key} must hold exactly {spec['permissions']}"
        )
        assert isinstance(policy["resources"], str), f"token {key}: v6 policy resources are a JSON string"
        assert json.loads(policy["resources"]) == {f"com.cloudflare.api.account.{account}": "*"}, (
            f"token {key} must reach this account and nothing else"
        )


def test_permission_group_ids_are_looked_up_by_name_in_the_accounts_data_source(
    dev_run: ProgramRun, dev_fake: FakeCloudflare
) -> None:
    assert [c.token for c in dev_fake.calls] == [
        "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList"
    ]
    assert dev_fake.calls[0].args["accountId"] == "0123456789abcdef0123456789abcdef"
    renamed = {name: f"{index:032x}" for index, name in enumerate(FAKE_GROUPS, start=1)}
    program = run("dev", mocks=FakeCloudflare(renamed))
    (runtime,) = [r for r in program.of_type(ACCOUNT_TOKEN) if r.name == "chatchonk-api-runtime"]
    assert runtime.inputs["policies"][0]["permissionGroups"] == [{"id": renamed["Workers KV Storage Write"]}]


def test_a_group_the_account_does_not_offer_fails_naming_the_token_and_the_group() -> None:
    offered = {name: group_id for name, group_id in FAKE_GROUPS.items() if name != "Pages Write"}
    with pytest.raises(CatalogError) as raised:
        run("dev", mocks=FakeCloudflare(offered))
    message = str(raised.value)
    assert "token deploy" in message
    assert "'Pages Write'" in message
    assert "tokens.deploy.permissions" in message


@pytest.mark.parametrize(
    ("token", "group", "rule"),
    [("chatchonk-api-runtime", "Pages Write", "runtime token"), ("audit", "Workers KV Storage Write", "read-only")],
)
def test_a_role_cannot_hold_more_than_it_is_for(tmp_path: Path, token: str, group: str, rule: str) -> None:
    def add_group(catalog: Doc, _: Doc) -> None:
        catalog["tokens"][token]["permissions"].append(group)

    with pytest.raises(CatalogError, match=rule) as raised:
        run("dev", root=catalog_copy(tmp_path, "dev", add_group))
    assert token in str(raised.value)
    assert repr(group) in str(raised.value)


def test_prod_namespaces_are_protected_and_retained(prod_run: ProgramRun) -> None:
    for namespace in prod_run.of_type(KV_NAMESPACE):
        assert namespace.protect, f"prod namespace {namespace.name} must be protected"
        assert namespace.retain_on_delete, f"prod namespace {namespace.name} must be retained on delete"


def test_dev_namespaces_are_neither_protected_nor_retained(dev_run: ProgramRun) -> None:
    for namespace in dev_run.of_type(KV_NAMESPACE):
        assert (namespace.protect, namespace.retain_on_delete) == (False, False), namespace.name


def test_adopted_namespace_is_imported_as_account_slash_id_and_its_preview_twin_created(
    prod_run: ProgramRun,
) -> None:
    adopted = "5f1e2d3c4b5a69788796a5b4c3d2e1f0"
    imports = {r.inputs["title"]: r.import_id for r in prod_run.of_type(KV_NAMESPACE) if r.import_id}
    assert imports == {"chatchonk-api-prod-CACHE_KV": f"fedcba9876543210fedcba9876543210/{adopted}"}
    document = prod_run.export(names.OUTPUTS_EXPORT)
    assert document["apps"]["chatchonk-api"]["bindings"]["CACHE_KV"]["id"] == adopted


def test_an_adopted_preview_twin_is_imported_too(tmp_path: Path) -> None:
    preview = "0f1e2d3c4b5a69788796a5b4c3d2e1ff"

    def adopt_preview(_: Doc, config: Doc) -> None:
        config["kvstack:apps"]["chatchonk-api"]["adopt"]["CACHE_KV"]["preview_id"] = preview

    program = run("prod", root=catalog_copy(tmp_path, "prod", adopt_preview))
    imports = {r.inputs["title"]: r.import_id for r in program.of_type(KV_NAMESPACE) if r.import_id}
    assert imports["chatchonk-api-prod-CACHE_KV_preview"] == f"fedcba9876543210fedcba9876543210/{preview}"
    assert len(imports) == 2


def test_token_values_are_secret_and_only_in_the_secret_export(program: ProgramRun) -> None:
    values = program.exports[names.TOKEN_VALUES_EXPORT]
    names_by_key = {r.name: r.inputs["name"] for r in program.of_type(ACCOUNT_TOKEN)}
    assert values.secret, "the token values export must be a Pulumi secret"
    assert values.value == {key: token_value(name) for key, name in names_by_key.items()}
    document = program.exports[names.OUTPUTS_EXPORT]
    assert not document.secret, "the outputs document must stay readable: no secret inside it"
    text = json.dumps(document.value)
    for secret in values.value.values():
        assert secret not in text, "a token value leaked into the outputs document"


def test_outputs_document_validates_and_carries_the_ids_that_were_created(program: ProgramRun) -> None:
    document = program.export(names.OUTPUTS_EXPORT)
    schema = load_schema("outputs")
    jsonschema.validate(document, schema)
    ids = titles_to_ids(program)
    for app in document["apps"].values():
        for binding in app["bindings"].values():
            assert binding["id"] == ids[binding["title"]]
            assert binding["preview_id"] == ids[binding["preview_title"]]
    token_ids = {r.name: r.id for r in program.of_type(ACCOUNT_TOKEN)}
    assert {key: t["id"] for key, t in document["tokens"].items()} == token_ids
    assert (document["stack"], document["environment"]) == (program.stack, program.stack)


def test_tokens_expire_when_the_stack_says(program: ProgramRun) -> None:
    for token in program.of_type(ACCOUNT_TOKEN):
        assert token.inputs["expiresOn"] == "2027-11-30T00:00:00Z", token.name
    for key, token in program.export(names.OUTPUTS_EXPORT)["tokens"].items():
        assert token["expires_on"] == "2027-11-30T00:00:00Z", key


def test_token_declared_expires_never_is_created_without_an_expiry(tmp_path: Path) -> None:
    def never(catalog: Doc, _config: Doc) -> None:
        catalog["tokens"]["audit"]["expires"] = "never"

    program = run("dev", root=catalog_copy(tmp_path, "dev", never))
    created = {r.name: r.inputs for r in program.of_type(ACCOUNT_TOKEN)}
    assert "expiresOn" not in created["audit"], "a token declared `expires: never` must be created with no expiry"
    assert created["deploy"]["expiresOn"] == "2027-11-30T00:00:00Z", "the other tokens keep the stack's expiry"
    document = program.export(names.OUTPUTS_EXPORT)
    jsonschema.validate(document, load_schema("outputs"))
    assert document["tokens"]["audit"]["expires_on"] is None
    assert document["tokens"]["deploy"]["expires_on"] == "2027-11-30T00:00:00Z"


def test_components_share_one_type_token_scheme_and_parent_every_child(program: ProgramRun) -> None:
    components = {r.urn: r for r in program.resources if not r.custom}
    for component in components.values():
        assert re.fullmatch(r"kvstack:[a-z]+:[A-Z][A-Za-z]+", component.type), component.type
    for resource in program.resources:
        if resource.custom:
            assert resource.parent in components, f"{resource.type} {resource.name} is not inside a component"
    namespaces_parents = {components[str(r.parent)].type for r in program.of_type(KV_NAMESPACE)}
    assert namespaces_parents == {"kvstack:namespaces:BindingNamespaces"}
    assert {components[str(r.parent)].type for r in program.of_type(ACCOUNT_TOKEN)} == {"kvstack:tokens:ScopedToken"}
    assert {components[str(r.parent)].type for r in program.of_type(PAGES_PROJECT)} == {"kvstack:app:App"}


def test_components_register_their_real_outputs(program: ProgramRun) -> None:
    for component in program.resources:
        if component.custom:
            continue
        children = {r.inputs.get("title") or r.inputs.get("name"): r.id for r in program.children(component)}
        outputs = component.outputs
        if component.type == "kvstack:namespaces:BindingNamespaces":
            assert outputs["id"] == children[outputs["title"]], component.name
            assert outputs["preview_id"] == children[outputs["preview_title"]], component.name
        elif component.type == "kvstack:tokens:ScopedToken":
            assert outputs["id"] == children[outputs["name"]], component.name
            assert outputs["value"] == token_value(outputs["name"]), component.name
        else:
            assert component.type == "kvstack:app:App"
            assert outputs["bindings"], component.name
            for ids in outputs["bindings"].values():
                assert all(isinstance(v, str) and len(v) == 32 for v in ids.values()), component.name
