"""`kvstack check --local` against `kvstack local up`: the healthy stack, then each planted defect, caught.

One local Cloudflare (API server + the reference apps on wrangler/Miniflare) for the module, in a temporary
copy of the project. Every defect is planted through public interfaces (the official SDK, the API's admin
routes, the files the runtime reads) and reverted; the destructive one (a deleted namespace) comes last.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from checks.context import CheckOptions, build_context
from checks.resources import poll
from checks.runner import RunOutcome, run_checks
from kvstack.cloudflare import ApiSettings, CloudflareApi, connect
from kvstack.local import control
from kvstack.local.apps import AppSpec
from kvstack.local.state import LocalState, local_outputs_file, state_dir
from kvstack.local.views import deployed_view
from kvstack.permissions import account_resource, group_by_name

from .conftest import ROOT, SESSION

pytestmark = [pytest.mark.runtime, pytest.mark.slow]

# wrangler dev binds `preview_id` when a kv_namespaces entry has both (docs/contracts.md), and `local up`
# renders both into the files the runtime runs: the apps write into the preview twins, so KV never holds
# what the flows look for in the declared namespaces. Remove when `local up` runs files carrying `id` only.


@dataclass
class Local:
    root: Path
    state: LocalState
    token: str
    api: CloudflareApi
    document: dict[str, Any]

    def ids(self, app: str, binding: str) -> dict[str, str]:
        ids: dict[str, str] = self.document["apps"][app]["bindings"][binding]
        return ids

    def run(self, *kinds: str, keyword: str | None = None, window: float = 15.0) -> tuple[RunOutcome, dict[str, Any]]:
        options = CheckOptions(
            stack="dev",
            root=self.root,
            local=True,
            only=kinds or ("bindings", "tokens", "keyspaces", "flows"),  # type: ignore[arg-type]
            consistency_window=window,
        )
        context = build_context(options)
        report = self.root / "report.json"
        try:
            outcome = run_checks(context, json_report=report, keyword=keyword)
        finally:
            context.close()
        return outcome, json.loads(report.read_text())

    def admin(self, method: str, path: str, body: Any = None) -> None:
        response = httpx.request(
            method, f"{self.state.api_url}{path}", json=body, headers={"authorization": f"Bearer {self.token}"}
        )
        response.raise_for_status()

    def wait_health(self, app: str, status: int) -> None:
        """wrangler dev reloads an app whose wrangler file changed: wait until its /health answers ``status``."""
        poll(
            f"{app} answering /health with {status} after its wrangler file changed",
            lambda: httpx.get(f"{self.state.apps[app]}/health", timeout=5).status_code,
            lambda answer: answer == status,
            window=60,
        )

    def smoke_keys_left(self) -> list[str]:
        left = []
        for app in self.document["apps"].values():
            for ids in app["bindings"].values():
                for namespace_id in (ids["id"], ids["preview_id"]):
                    left += [k.name for k in self.api.list_keys(namespace_id) if "kvstack-smoke" in k.name]
        return left


def _failures(outcome: RunOutcome) -> dict[str, str]:
    return {r.name: r.message or "" for r in outcome.results.ordered() if r.outcome in ("failed", "error")}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    root = tmp_path_factory.mktemp("local") / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "keyspaces", root / "keyspaces")
    state = control.up(root, "dev")
    try:
        token = Path(state.token_file).read_text(encoding="utf-8").strip()
        api = connect(token, ApiSettings(account_id=state.account_id, base_url=f"{state.api_url}/client/v4"))
        document = json.loads(local_outputs_file(root, "dev").read_text())["kvstack"]
        yield Local(root, state, token, api, document)
        api.close()
    finally:
        control.down(root)


def test_healthy_local_stack_passes_bindings_tokens_and_keyspaces(local: Local) -> None:
    outcome, report = local.run("bindings", "tokens", "keyspaces")
    assert _failures(outcome) == {}
    assert report["target"] == "local"
    assert report["summary"]["skipped"] == 0
    assert outcome.exit_code == 0


def test_healthy_local_stack_passes_every_flow(local: Local) -> None:
    outcome, _ = local.run("flows", window=5.0)
    assert _failures(outcome) == {}


def test_no_smoke_key_remains_after_a_run(local: Local) -> None:
    _, report = local.run("flows", window=3.0)
    assert report["smoke"]["keys_written"] >= 7
    assert report["smoke"]["remaining"] == []
    assert local.smoke_keys_left() == []


def test_pages_binding_pointing_at_the_preview_id_is_caught(local: Local) -> None:
    ids = local.ids("dubai-app-front", "CHART_KV")
    project = local.document["apps"]["dubai-app-front"]["pages_project"]

    def bind(namespace_id: str) -> None:
        local.api.sdk.pages.projects.edit(
            project,
            account_id=local.state.account_id,
            deployment_configs={"production": {"kv_namespaces": {"CHART_KV": {"namespace_id": namespace_id}}}},
        )

    bind(ids["preview_id"])
    try:
        outcome, _ = local.run("bindings")
    finally:
        bind(ids["id"])
    failures = _failures(outcome)
    assert list(failures) == ["test_pages_deployment_binds_the_declared_ids[dubai-app-front production]"]
    assert f"found {ids['preview_id']} (dubai-app-front-dev-CHART_KV_preview)" in next(iter(failures.values()))


def test_token_with_an_extra_permission_is_caught(local: Local) -> None:
    declared = local.document["tokens"]["chatchonk-api-runtime"]
    groups = [group_by_name(name) for name in [*declared["permissions"], "Workers Scripts Write"]]
    created = local.api.sdk.accounts.tokens.create(
        account_id=local.state.account_id,
        name=declared["name"] + "-overprivileged",
        policies=[
            {
                "effect": "allow",
                "permission_groups": [{"id": g.id} for g in groups if g is not None],
                "resources": {account_resource(local.state.account_id): "*"},
            }
        ],
        expires_on=declared["expires_on"],
    )
    assert created is not None
    assert created.id is not None
    outputs_file = local_outputs_file(local.root, "dev")
    original = outputs_file.read_text()
    stack_output = json.loads(original)
    stack_output["kvstack"]["tokens"]["chatchonk-api-runtime"]["id"] = created.id
    stack_output["kvstack_token_values"]["chatchonk-api-runtime"] = created.value
    outputs_file.write_text(json.dumps(stack_output))
    try:
        outcome, _ = local.run("tokens")
    finally:
        outputs_file.write_text(original)
        local.api.sdk.accounts.tokens.delete(created.id, account_id=local.state.account_id)
    failures = _failures(outcome)
    assert list(failures) == ["test_token_holds_exactly_the_declared_permissions[chatchonk-api-runtime]"]
    assert next(iter(failures.values())).endswith("— extra: Workers Scripts Write")


def test_token_about_to_expire_is_caught(local: Local) -> None:
    declared = local.document["tokens"]["audit"]
    details = local.api.get_token(declared["id"])
    assert details is not None
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5 * 86400))

    def expire(when: str) -> None:
        local.api.sdk.accounts.tokens.update(
            declared["id"],
            account_id=local.state.account_id,
            name=details["name"],
            policies=details["policies"],
            expires_on=when,
        )

    expire(soon)
    try:
        outcome, _ = local.run("tokens")
    finally:
        expire(details["expires_on"])
    failures = _failures(outcome)
    assert list(failures) == ["test_token_expiry_is_far_enough[audit]"]
    assert "expected an expiry at least 14 days away" in failures["test_token_expiry_is_far_enough[audit]"]


def test_bad_value_session_without_ttl_and_unknown_key_are_caught(local: Local) -> None:
    chart = local.ids("dubai-app-front", "CHART_KV")["id"]
    sessions = local.ids("codex", "AUTH_SESSION_KV")["id"]
    cache = local.ids("chatchonk-api", "CACHE_KV")["id"]
    bad_chart = json.dumps([{"id": "m1", "receivedAt": "t", "chart": {"type": 7}}])
    local.api.put_value(chart, "charts:session:planted", bad_chart, ttl=3600)
    local.api.put_value(sessions, "session:" + "d" * 64, json.dumps(SESSION))
    local.api.put_value(cache, "debug:planted", "x", ttl=600)
    try:
        outcome, _ = local.run("keyspaces")
    finally:
        local.api.delete_keys(chart, ["charts:session:planted"])
        local.api.delete_keys(sessions, ["session:" + "d" * 64])
        local.api.delete_keys(cache, ["debug:planted"])
    failures = _failures(outcome)
    name = "test_namespace_holds_only_what_its_keyspace_allows[{}]"
    assert set(failures) == {
        name.format("dubai-app-front.CHART_KV"),
        name.format("codex.AUTH_SESSION_KV"),
        name.format("chatchonk-api.CACHE_KV"),
    }
    assert (
        "at /0/chart/type: expected type string; found 7 [JSON pointer /0/chart/type]"
        in failures[name.format("dubai-app-front.CHART_KV")]
    )
    assert "found a key that never expires" in failures[name.format("codex.AUTH_SESSION_KV")]
    assert "key 'debug:planted': expected a key matching one of" in failures[name.format("chatchonk-api.CACHE_KV")]


def test_placeholder_id_in_a_wrangler_file_is_caught(local: Local) -> None:
    path = state_dir(local.root) / "tree" / "apps" / "pickmyclass" / "wrangler.jsonc"
    original = path.read_text()
    path.write_text(original.replace(local.ids("pickmyclass", "KV")["id"], "PLACEHOLDER_KV_ID", 1))
    try:
        outcome, _ = local.run("bindings", keyword="wrangler_file")
    finally:
        path.write_text(original)
        local.wait_health("pickmyclass", 200)
    failures = _failures(outcome)
    assert list(failures) == ["test_wrangler_file_matches_the_outputs[apps/pickmyclass/wrangler.jsonc]"]
    assert "is the placeholder 'PLACEHOLDER_KV_ID'" in next(iter(failures.values()))


def test_app_whose_kv_binding_is_missing_is_caught(local: Local) -> None:
    # codex deployed without CACHE_KV: its Worker settings, the file it runs (the deployed view, which
    # wrangler dev reloads) and its /health say so.

    workers = httpx.get(local.state.apps["codex"].rsplit("/", 1)[0] + "/__kvstack/apps").json()["apps"]
    script = workers["codex"]
    bindings = local.document["apps"]["codex"]["bindings"]
    full = [{"type": "kv_namespace", "name": b, "namespace_id": ids["id"]} for b, ids in bindings.items()]
    path = state_dir(local.root) / "tree" / "apps" / "codex" / "wrangler.toml"
    original = path.read_text()
    without, dropped = re.subn(
        r'\[\[env\.staging\.kv_namespaces\]\]\s*\nbinding = "CACHE_KV"\s*\n(?:[a-z_]+ = "[^"]*"\s*\n)+', "", original
    )
    assert dropped == 1
    local.admin("PUT", f"/__kvstack/scripts/{script}", {"bindings": [b for b in full if b["name"] != "CACHE_KV"]})
    spec = AppSpec(name="codex", config=path, section="env.staging")
    path.write_text(without)
    deployed_view(spec)  # what the runtime runs: the rendered file's deployed view
    try:
        local.wait_health("codex", 503)
        outcome, _ = local.run("bindings", keyword="codex")
    finally:
        local.admin("PUT", f"/__kvstack/scripts/{script}", {"bindings": full})
        path.write_text(original)
        deployed_view(spec)
        local.wait_health("codex", 200)
    failures = _failures(outcome)
    worker = "test_worker_settings_list_the_declared_bindings[codex env.staging]"
    health = "test_app_reports_its_bindings_available[codex]"
    assert set(failures) == {worker, health, "test_wrangler_file_matches_the_outputs[apps/codex/wrangler.toml]"}
    assert (
        "expected HTTP 200 with every required binding available; found HTTP 503, missing bindings CACHE_KV"
        in (failures[health])
    )
    assert (
        f"CACHE_KV: expected {bindings['CACHE_KV']['id']} (codex-dev-CACHE_KV); found no such KV binding"
        in (failures[worker])
    )


def test_deleted_namespace_is_caught(local: Local) -> None:
    ids = local.ids("pickmyclass", "KV")
    local.api.sdk.kv.namespaces.delete(ids["id"], account_id=local.state.account_id)
    outcome, _ = local.run("bindings", "keyspaces")
    failures = _failures(outcome)
    assert set(failures) == {
        "test_namespace_exists_with_its_title[pickmyclass.KV]",
        "test_namespace_holds_only_what_its_keyspace_allows[pickmyclass.KV]",
    }
    assert (
        "expected it to exist with title 'pickmyclass-dev-KV'; found no namespace with this id"
        in failures["test_namespace_exists_with_its_title[pickmyclass.KV]"]
    )
    assert outcome.exit_code == 1
