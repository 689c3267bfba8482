"""Workers scripts and their settings through the strict SDK (sync and async), PATCH included."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.local.api.conftest import ACCOUNT, Api, Sdk

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-api")]


def register(api: Api, namespace: str) -> str:
    name = f"app-{uuid.uuid4().hex[:8]}"
    bindings = [{"type": "kv_namespace", "name": "KV", "namespace_id": namespace}]
    answer = httpx.put(f"{api.url}/__kvstack/scripts/{name}", json={"bindings": bindings}, headers=api.auth())
    assert answer.is_success, answer.text
    return name


def test_worker_script_settings_list_registered_bindings(sdk: Sdk, namespace: str) -> None:
    name = register(sdk.api, namespace)
    assert name in [s.id for s in sdk(lambda c: c.workers.scripts.list(account_id=ACCOUNT))]
    settings = sdk(lambda c: c.workers.scripts.script_and_version_settings.get(name, account_id=ACCOUNT))
    assert [(b.name, getattr(b, "namespace_id", None)) for b in settings.bindings or []] == [("KV", namespace)]
    script_settings = sdk(lambda c: c.workers.scripts.settings.get(name, account_id=ACCOUNT))
    assert script_settings.logpush is False
    missing = lambda c: c.workers.scripts.script_and_version_settings.get("nope", account_id=ACCOUNT)  # noqa: E731
    assert sdk.error(missing) == (404, 10007)


def test_settings_patch_changes_what_the_next_read_shows(sdk: Sdk, namespace: str) -> None:
    name = register(sdk.api, namespace)
    edited = sdk(
        lambda c: c.workers.scripts.script_and_version_settings.edit(
            name, account_id=ACCOUNT, settings={"logpush": True, "tags": ["kvstack"], "placement": {"mode": "smart"}}
        )
    )
    assert (edited.logpush, edited.tags) == (True, ["kvstack"])
    listed = {s.id: s for s in sdk(lambda c: c.workers.scripts.list(account_id=ACCOUNT))}
    assert listed[name].placement_mode == "smart"
    sdk(lambda c: c.workers.scripts.settings.edit(name, account_id=ACCOUNT, logpush=False, tags=["b"]))
    settings = sdk(lambda c: c.workers.scripts.script_and_version_settings.get(name, account_id=ACCOUNT))
    assert (settings.logpush, settings.tags) == (False, ["b"])
    assert [b.name for b in settings.bindings or []] == ["KV"]
    bad = lambda c: c.workers.scripts.settings.edit(name, account_id=ACCOUNT, extra_body={"logpush": "yes please"})  # noqa: E731
    assert sdk.error(bad) == (400, 10002)
