"""Pages projects through the strict SDK (sync and async): the fields SDK 5.9 requires, PATCH merge and rename."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.local.api.conftest import ACCOUNT, Api, Sdk, answer_error

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-api")]


def test_pages_projects_create_patch_merge_rename_and_delete(sdk: Sdk, namespace: str) -> None:
    name = f"p-{uuid.uuid4().hex[:8]}"
    created = sdk(
        lambda c: c.pages.projects.create(
            account_id=ACCOUNT,
            name=name,
            production_branch="main",
            deployment_configs={"production": {"kv_namespaces": {"A": {"namespace_id": namespace}}}},
        )
    )
    assert created.deployment_configs.production.fail_open is True
    assert created.framework == ""
    patch = {
        "production": {"kv_namespaces": {"B": {"namespace_id": namespace}}},
        "preview": {"kv_namespaces": {"A": {"namespace_id": namespace}}},
    }
    sdk(lambda c: c.pages.projects.edit(name, account_id=ACCOUNT, deployment_configs=patch))
    removal = {"production": {"kv_namespaces": {"A": None}}}
    project = sdk(lambda c: c.pages.projects.edit(name, account_id=ACCOUNT, deployment_configs=removal))  # type: ignore[dict-item]
    production = project.deployment_configs.production.kv_namespaces or {}
    assert {k: v.namespace_id for k, v in production.items()} == {"B": namespace}
    preview = project.deployment_configs.preview.kv_namespaces or {}
    assert {k: v.namespace_id for k, v in preview.items()} == {"A": namespace}
    renamed = sdk(lambda c: c.pages.projects.edit(name, account_id=ACCOUNT, name=name + "-2"))
    assert renamed.name == name + "-2"
    assert sdk.error(lambda c: c.pages.projects.get(name, account_id=ACCOUNT))[0] == 404
    assert name + "-2" in [p.name for p in sdk(lambda c: c.pages.projects.list(account_id=ACCOUNT))]
    sdk(lambda c: c.pages.projects.delete(name + "-2", account_id=ACCOUNT))
    assert sdk.error(lambda c: c.pages.projects.get(name + "-2", account_id=ACCOUNT)) == (404, 8000007)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ok-name", "deployment_configs": [1]},
        {"name": "ok-name", "deployment_configs": {"production": [1]}},
        {"name": "ok-name", "deployment_configs": {"production": {"kv_namespaces": {"A": 5}}}},
        {"name": "Bad Name"},
        {"name": "ok\n"},
        {"name": 5},
        {"name": "ok-name", "source": {"type": "svn"}},
    ],
)
def test_bad_project_bodies_are_400(api: Api, body: dict[str, object]) -> None:
    answer = httpx.post(f"{api.base}/accounts/{ACCOUNT}/pages/projects", json=body, headers=api.auth())
    assert answer_error(answer) == (400, 10002)
