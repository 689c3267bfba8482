"""`kvstack check --local` against `kvstack local up`: the healthy stack, then each planted defect, caught.

One local Cloudflare (API server + the reference apps on wrangler/Miniflare) for the module, in a temporary
copy of the project. Every defect is planted as a user's mistake would happen: through the official SDK
(renamed title, extra or missing Pages binding, tokens revoked, without expiry, for another account), the
API's admin routes (a Worker not deployed, faults), the outputs document (a token or app it lacks) or the
files the runtime runs (an app's source or .dev.vars, reloaded by wrangler), and reverted; the destructive
one (a deleted namespace) comes last. The fake Cloudflare (tests/fakecloudflare.py) is kept only for what
this one cannot produce.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from checks.context import DEFAULT_EXPIRY_DAYS, CheckOptions, build_context
from checks.resources import poll
from checks.runner import RunOutcome, run_checks
from kvstack.cloudflare import ApiSettings, CloudflareApi, connect
from kvstack.local import control
from kvstack.local.apps import LOCAL_LOGIN_USER, LOCAL_WEBHOOK_SECRET, TRUSTED_CLIENT_HEADER, AppSpec
from kvstack.local.state import LocalState, local_outputs_file, state_dir
from kvstack.local.views import deployed_view
from kvstack.permissions import account_resource, group_by_name
from kvstack.schemas import validator

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

    def run(
        self,
        *kinds: str,
        keyword: str | None = None,
        window: float = 15.0,
        allow_skip: tuple[str, ...] = (),
        expiry_days: int = DEFAULT_EXPIRY_DAYS,
    ) -> tuple[RunOutcome, dict[str, Any]]:
        options = CheckOptions(
            stack="dev",
            root=self.root,
            local=True,
            only=kinds or ("bindings", "tokens", "keyspaces", "flows"),  # type: ignore[arg-type]
            consistency_window=window,
            allow_skip=allow_skip,  # type: ignore[arg-type]
            expiry_days=expiry_days,
        )
        context = build_context(options)
        report = self.root / "report.json"
        try:
            outcome = run_checks(context, json_report=report, junit=self.root / "report.xml", keyword=keyword)
        finally:
            context.close()
        return outcome, json.loads(report.read_text())

    def admin(self, method: str, path: str, body: Any = None) -> None:
        response = httpx.request(
            method, f"{self.state.api_url}{path}", json=body, headers={"authorization": f"Bearer {self.token}"}
        )
        response.raise_for_status()

    def health(self, app: str) -> httpx.Response | None:
        """The app's /health answer; None while wrangler reloads it (no answer yet)."""
        try:
            return httpx.get(f"{self.state.apps[app]}/health", timeout=10)
        except httpx.HTTPError:
            return None

    def wait_health(self, app: str, status: int) -> None:
        """wrangler dev reloads an app whose wrangler file changed: wait until its /health answers ``status``."""
        poll(
            f"{app} answering /health with {status} after its wrangler file changed",
            lambda: self.health(app),
            lambda answer: answer is not None and answer.status_code == status,
            window=90,
        )

    @property
    def account_id(self) -> str:
        return self.state.account_id

    def app_file(self, app: str, name: str) -> Path:
        """A file of ``app`` as the runtime runs it (wrangler dev reloads the app when it changes)."""
        return state_dir(self.root) / "tree" / "apps" / app / name

    @contextmanager
    def outputs_edited(self, edit: Callable[[dict[str, Any]], None]) -> Iterator[None]:
        """The outputs document (``{"kvstack": …, "kvstack_token_values": …}``) changed by ``edit``, then restored."""
        path = local_outputs_file(self.root, "dev")
        original = path.read_text()
        document = json.loads(original)
        edit(document)
        path.write_text(json.dumps(document))
        try:
            yield
        finally:
            path.write_text(original)

    @contextmanager
    def token_in_place_of(self, key: str, **create: Any) -> Iterator[str]:
        """A token created through the SDK (``create``: its policies, expiry…) that the outputs name as ``key``."""
        declared = self.document["tokens"][key]
        created = self.api.sdk.accounts.tokens.create(account_id=self.account_id, name=declared["name"], **create)
        assert created is not None
        assert created.id is not None
        assert created.value is not None

        def swap(document: dict[str, Any]) -> None:
            document["kvstack"]["tokens"][key]["id"] = created.id
            document["kvstack_token_values"][key] = created.value

        try:
            with self.outputs_edited(swap):
                yield created.id
        finally:
            if self.api.get_token(created.id) is not None:
                self.api.sdk.accounts.tokens.delete(created.id, account_id=self.account_id)

    def policies_of(self, key: str, *, account: str | None = None) -> list[dict[str, Any]]:
        groups = [group_by_name(name) for name in self.document["tokens"][key]["permissions"]]
        return [
            {
                "effect": "allow",
                "permission_groups": [{"id": g.id} for g in groups if g is not None],
                "resources": {account_resource(account or self.account_id): "*"},
            }
        ]

    def wait_config(self, app: str, name: str) -> None:
        """wrangler dev reloads an app whose .dev.vars changed: wait until its /health says ``name`` is set."""
        poll(
            f"{app} reporting {name} set on /health after its .dev.vars changed",
            lambda: self.health(app),
            lambda answer: answer is not None and bool(answer.json().get("config", {}).get(name)),
            window=90,
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


def _coverage(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {row.pop("kind"): row for row in report["coverage"]}


def test_healthy_local_stack_passes_bindings_tokens_and_keyspaces(local: Local) -> None:
    outcome, report = local.run("bindings", "tokens", "keyspaces")
    assert _failures(outcome) == {}
    assert report["target"] == "local"
    assert report["summary"]["skipped"] == 0
    assert report["skips"] == []
    validator("check-report").validate(report)
    # 4 apps, 6 bindings (each a namespace and its preview twin), 3 tokens: every one checked.
    assert _coverage(report) == {
        "bindings": {"declared": 12 + 2 + 2 + 4 + 3, "checked": 23, "skipped": 0, "missing": 0, "not_run": 0},
        "tokens": {"declared": 3, "checked": 3, "skipped": 0, "missing": 0, "not_run": 0},
        "keyspaces": {"declared": 12, "checked": 12, "skipped": 0, "missing": 0, "not_run": 0},
    }
    assert outcome.exit_code == 0
    written = (local.root / "report.json").read_text() + (local.root / "report.xml").read_text()
    values = json.loads(local_outputs_file(local.root, "dev").read_text())["kvstack_token_values"]
    assert values
    assert [key for key, value in values.items() if value in written] == []


def test_healthy_local_stack_passes_every_flow(local: Local) -> None:
    outcome, report = local.run("flows", window=5.0)
    assert _failures(outcome) == {}
    assert report["skips"] == []
    assert _coverage(report) == {
        "flows": {"declared": 5, "checked": 5, "skipped": 0, "missing": 0, "not_run": 0},
    }
    assert outcome.exit_code == 0


def test_no_smoke_key_or_residue_remains_after_a_run(local: Local) -> None:
    webhook = local.ids("dubai-app-front", "WEBHOOK_KV")["id"]
    log_before = local.api.get_entry(webhook, "webhook:messages")
    outcome, report = local.run("flows", window=3.0)
    assert report["smoke"]["keys_written"] >= 7
    assert report["smoke"]["remaining"] == []
    assert report["smoke"]["residue"] == []
    assert local.smoke_keys_left() == []
    assert local.api.get_entry(webhook, "webhook:messages") == log_before, "the shared webhook log is untouched"
    assert outcome.exit_code == 0


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
        with_margin_of_2_days, _ = local.run("tokens", expiry_days=2)
    finally:
        expire(details["expires_on"])
    failures = _failures(outcome)
    assert list(failures) == ["test_token_expiry_is_far_enough[audit]"]
    assert "expected an expiry at least 14 days away" in failures["test_token_expiry_is_far_enough[audit]"]
    assert _failures(with_margin_of_2_days) == {}


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
        outcome, _ = local.run("bindings", "flows", keyword="codex", window=3.0)
    finally:
        local.admin("PUT", f"/__kvstack/scripts/{script}", {"bindings": full})
        path.write_text(original)
        deployed_view(spec)
        local.wait_health("codex", 200)
    failures = _failures(outcome)
    worker = "test_worker_settings_list_the_declared_bindings[codex env.staging]"
    health = "test_app_reports_its_bindings_available[codex]"
    wrangler_file = "test_wrangler_file_matches_the_outputs[apps/codex/wrangler.toml]"
    assert set(failures) == {worker, health, wrangler_file, "test_read_through_cache[codex]"}
    assert "CACHE_KV not available" in failures["test_read_through_cache[codex]"]
    assert "missing-binding" in failures[wrangler_file]
    assert (
        "expected HTTP 200 with every required binding available; found HTTP 503, missing bindings CACHE_KV"
        in (failures[health])
    )
    assert (
        f"CACHE_KV: expected {bindings['CACHE_KV']['id']} (codex-dev-CACHE_KV); found no such KV binding"
        in (failures[worker])
    )


def test_token_missing_from_the_outputs_fails_naming_it(local: Local) -> None:
    def drop_audit(document: dict[str, Any]) -> None:
        del document["kvstack"]["tokens"]["audit"]
        del document["kvstack_token_values"]["audit"]

    with local.outputs_edited(drop_audit):
        outcome, report = local.run("tokens")
    failures = _failures(outcome)
    assert set(failures) == {
        "test_token_verifies_as_active[audit]",
        "test_token_expiry_is_far_enough[audit]",
        "test_token_holds_exactly_the_declared_permissions[audit]",
        "test_token_is_scoped_to_this_account_only[audit]",
    }
    assert all(
        message.startswith("audit: expected token audit (kvstack-dev-audit) in the outputs document")
        for message in failures.values()
    )
    assert _coverage(report)["tokens"] == {"declared": 3, "checked": 2, "skipped": 0, "missing": 1, "not_run": 0}
    assert outcome.exit_code == 1


def test_app_missing_from_the_outputs_fails_naming_it(local: Local) -> None:
    def drop_codex(document: dict[str, Any]) -> None:
        del document["kvstack"]["apps"]["codex"]

    with local.outputs_edited(drop_codex):
        outcome, report = local.run("bindings", "keyspaces", "flows", window=3.0)
    failures = _failures(outcome)
    missing = {name for name, message in failures.items() if "in the outputs document" in message}
    assert {
        "test_namespace_exists_with_its_title[codex.CACHE_KV (preview)]",
        "test_worker_settings_list_the_declared_bindings[codex env.staging]",
        "test_namespace_holds_only_what_its_keyspace_allows[codex.AUTH_SESSION_KV]",
        "test_session_login_cache_and_logout[codex]",
        "test_read_through_cache[codex]",
    } <= missing
    assert all("codex" in name for name in failures), failures
    coverage = _coverage(report)
    assert coverage["bindings"]["missing"] == 4 + 1  # its 2 bindings' namespaces and twins, its Worker
    assert coverage["keyspaces"]["missing"] == 4
    assert coverage["flows"]["missing"] == 2
    assert outcome.exit_code == 1


def test_token_that_never_expires_is_caught(local: Local) -> None:
    with local.token_in_place_of("audit", policies=local.policies_of("audit")):
        outcome, _ = local.run("tokens")
    failures = _failures(outcome)
    assert list(failures) == ["test_token_expiry_is_far_enough[audit]"]
    assert "found a token that never expires" in failures["test_token_expiry_is_far_enough[audit]"]


def test_token_that_never_expires_passes_when_the_catalog_says_it_may_not(local: Local) -> None:
    project = local.root / "Pulumi.yaml"
    original = project.read_text()
    declared = original.replace("role: audit\n", "role: audit\n          expires: never\n", 1)
    assert declared != original
    project.write_text(declared)
    try:
        with local.token_in_place_of("audit", policies=local.policies_of("audit")):
            outcome, _ = local.run("tokens")
    finally:
        project.write_text(original)
    assert _failures(outcome) == {}
    assert outcome.exit_code == 0


def test_revoked_token_is_caught(local: Local) -> None:
    expires = local.document["tokens"]["deploy"]["expires_on"]
    with local.token_in_place_of("deploy", policies=local.policies_of("deploy"), expires_on=expires) as token_id:
        local.api.sdk.accounts.tokens.delete(token_id, account_id=local.account_id)
        outcome, _ = local.run("tokens")
    failures = _failures(outcome)
    assert set(failures) == {
        "test_token_verifies_as_active[deploy]",
        "test_token_expiry_is_far_enough[deploy]",
        "test_token_holds_exactly_the_declared_permissions[deploy]",
        "test_token_is_scoped_to_this_account_only[deploy]",
    }
    assert "found 'rejected: HTTP 401" in failures["test_token_verifies_as_active[deploy]"]
    assert f"found no token with id {token_id}" in failures["test_token_holds_exactly_the_declared_permissions[deploy]"]
    assert outcome.exit_code == 1


def test_token_for_another_account_is_caught(local: Local) -> None:
    other = "f" * 32
    expires = local.document["tokens"]["audit"]["expires_on"]
    with local.token_in_place_of("audit", policies=local.policies_of("audit", account=other), expires_on=expires):
        outcome, _ = local.run("tokens")
    failures = _failures(outcome)
    assert "test_token_is_scoped_to_this_account_only[audit]" in failures
    assert f"found ['{account_resource(other)}']" in failures["test_token_is_scoped_to_this_account_only[audit]"]
    assert outcome.exit_code == 1


def test_renamed_namespace_is_caught(local: Local) -> None:
    ids = local.ids("codex", "CACHE_KV")

    def rename(title: str) -> None:
        local.api.sdk.kv.namespaces.with_raw_response.update(
            ids["preview_id"], account_id=local.account_id, title=title
        )

    rename("codex-CACHE_KV-preview")
    try:
        outcome, _ = local.run("bindings", keyword="namespace_exists")
    finally:
        rename(ids["preview_title"])
    failures = _failures(outcome)
    assert list(failures) == ["test_namespace_exists_with_its_title[codex.CACHE_KV (preview)]"]
    assert "expected title 'codex-dev-CACHE_KV_preview'; found 'codex-CACHE_KV-preview'" in next(
        iter(failures.values())
    )


def test_extra_pages_binding_is_caught(local: Local) -> None:
    project = local.document["apps"]["dubai-app-front"]["pages_project"]
    stray = local.ids("pickmyclass", "KV")["id"]

    def bind(entry: Any) -> None:
        local.api.sdk.pages.projects.edit(
            project,
            account_id=local.account_id,
            deployment_configs={"preview": {"kv_namespaces": {"OTHER_KV": entry}}},
        )

    bind({"namespace_id": stray})
    try:
        outcome, _ = local.run("bindings", keyword="pages_deployment")
    finally:
        bind(None)
    failures = _failures(outcome)
    assert list(failures) == ["test_pages_deployment_binds_the_declared_ids[dubai-app-front preview]"]
    assert f"OTHER_KV: expected no such KV binding; found one bound to {stray} (pickmyclass-dev-KV)" in next(
        iter(failures.values())
    )


def test_missing_optional_pages_binding_warns_without_failing(local: Local) -> None:
    project = local.document["apps"]["dubai-app-front"]["pages_project"]
    webhook = local.ids("dubai-app-front", "WEBHOOK_KV")["id"]

    def bind(entry: Any) -> None:
        local.api.sdk.pages.projects.edit(
            project,
            account_id=local.account_id,
            deployment_configs={"production": {"kv_namespaces": {"WEBHOOK_KV": entry}}},
        )

    bind(None)
    try:
        outcome, _ = local.run("bindings", keyword="pages_deployment")
    finally:
        bind({"namespace_id": webhook})
    assert _failures(outcome) == {}
    [result] = [r for r in outcome.results.ordered() if r.warnings]
    assert result.name == "test_pages_deployment_binds_the_declared_ids[dubai-app-front production]"
    assert f"WEBHOOK_KV: expected {webhook}" in result.warnings[0]
    assert "found no such KV binding (optional)" in result.warnings[0]


def test_token_also_scoped_to_another_account_is_caught(local: Local) -> None:
    [policy] = local.policies_of("audit")
    policy["resources"][account_resource("f" * 32)] = "*"
    expires = local.document["tokens"]["audit"]["expires_on"]
    with local.token_in_place_of("audit", policies=[policy], expires_on=expires):
        outcome, _ = local.run("tokens")
    assert list(_failures(outcome)) == ["test_token_is_scoped_to_this_account_only[audit]"]


def test_ttl_beyond_the_maximum_and_bad_placeholder_are_caught(local: Local) -> None:
    state = local.ids("pickmyclass", "KV")["id"]
    value = json.dumps({"class_nbr": 7, "status": "open", "seats_available": 1, "fetched_at": "t"})
    local.api.put_value(state, "class_state:7", value, ttl=30 * 86400)
    local.api.put_value(state, "class_state:seven", value, ttl=60)
    try:
        outcome, _ = local.run("keyspaces", keyword="pickmyclass")
    finally:
        local.api.delete_keys(state, ["class_state:7", "class_state:seven"])
    failures = _failures(outcome)
    [message] = failures.values()
    assert list(failures) == ["test_namespace_holds_only_what_its_keyspace_allows[pickmyclass.KV]"]
    assert "found 1 bad-placeholder, 1 ttl-too-long" in message
    assert "placeholder {class_nbr:int} is 'seven', not a non-negative decimal integer" in message


def test_worker_not_deployed_is_caught(local: Local) -> None:
    workers = httpx.get(local.state.apps["pickmyclass"].rsplit("/", 1)[0] + "/__kvstack/apps").json()["apps"]
    script = workers["pickmyclass"]
    bindings = [
        {"type": "kv_namespace", "name": "KV", "namespace_id": local.ids("pickmyclass", "KV")["id"]},
    ]
    local.admin("DELETE", f"/__kvstack/scripts/{script}")
    try:
        outcome, _ = local.run("bindings", keyword="worker_settings")
    finally:
        local.admin("PUT", f"/__kvstack/scripts/{script}", {"bindings": bindings})
    failures = _failures(outcome)
    assert list(failures) == ["test_worker_settings_list_the_declared_bindings[pickmyclass top]"]
    assert f"expected a deployed Worker; found no script named '{script}'" in next(iter(failures.values()))


def test_flow_whose_secret_is_missing_fails_the_run_unless_allowed(local: Local) -> None:
    dev_vars = local.app_file("dubai-app-front", ".dev.vars")
    original = dev_vars.read_text()
    dev_vars.write_text("".join(line for line in original.splitlines(True) if not line.startswith("WEBHOOK_SECRET")))
    try:
        refused, report = local.run("flows", keyword="chart")
        allowed, allowed_report = local.run("flows", keyword="chart", allow_skip=("flows",))
    finally:
        dev_vars.write_text(original)
        local.wait_config("dubai-app-front", "WEBHOOK_SECRET")
    assert _failures(refused) == {}
    [skip] = report["skips"]
    assert skip["kind"] == "flows"
    assert skip["id"].endswith("test_chart_webhook_reaches_the_stream_and_kv[dubai-app-front]")
    assert "no webhook secret" in skip["reason"]
    assert skip["allowed"] is False
    assert refused.exit_code == 1
    assert report["exit_code"] == 1
    assert allowed_report["skips"][0]["allowed"] is True
    assert allowed.exit_code == 0


@contextmanager
def _app_source_changed(local: Local, app: str, old: str, new: str, reloaded: Callable[[], bool]) -> Iterator[None]:
    """The app's worker.js with ``old`` replaced by ``new`` (a user's bug), until ``reloaded()`` sees it run."""
    source = local.app_file(app, "worker.js")
    original = source.read_text()
    assert old in original
    source.write_text(original.replace(old, new))

    def runs(changed: bool) -> bool:
        try:
            return reloaded() is changed
        except (httpx.HTTPError, ValueError, KeyError, AssertionError, StopIteration):  # wrangler is reloading it
            return False

    try:
        poll(f"{app} running its changed worker.js", lambda: runs(True), bool, window=90)
        yield
    finally:
        source.write_text(original)
        poll(f"{app} running its own worker.js again", lambda: runs(False), bool, window=90)


def _cache_ttl_answered(local: Local, asked: int) -> int:
    probe = f"probe-{time.monotonic_ns()}"
    with httpx.Client(base_url=local.state.apps["codex"], timeout=10) as http:
        answer = http.get(f"/api/cache/kvstack-smoke/{probe}", params={"ttl": str(asked)})
        http.delete(f"/api/cache/kvstack-smoke/{probe}")
    return int(answer.json()["ttl"])


def test_cache_keeping_data_longer_than_asked_is_caught(local: Local) -> None:
    with _app_source_changed(
        local, "codex", ": Number(ttlParam);", ": Number(ttlParam) * 5;", lambda: _cache_ttl_answered(local, 60) == 300
    ):
        outcome, _ = local.run("flows", keyword="read_through_cache", window=5.0)
    failures = _failures(outcome)
    assert list(failures) == ["test_read_through_cache[codex]"]
    assert "expected the TTL asked for, 60 s" in failures["test_read_through_cache[codex]"]
    assert (
        "found 300 s" in failures["test_read_through_cache[codex]"]
        or "found 29" in (failures["test_read_through_cache[codex]"])
    )


def _webhook_log(local: Local) -> str | None:
    entry = local.api.get_entry(local.ids("dubai-app-front", "WEBHOOK_KV")["id"], "webhook:messages")
    return None if entry is None else entry.value


def _post_chart(local: Local, session: str) -> None:
    body = json.dumps({"sessionId": session, "chart": {"type": "line"}})
    signature = hmac.new(LOCAL_WEBHOOK_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    httpx.post(
        local.state.apps["dubai-app-front"] + "/api/webhook",
        content=body,
        headers={"content-type": "application/json", "x-webhook-signature": f"sha256={signature}"},
        timeout=10,
    ).raise_for_status()


def _logs_smoke_deliveries(local: Local) -> bool:
    session = f"kvstack-smoke-probe{time.monotonic_ns()}"
    _post_chart(local, session)
    local.api.delete_keys(local.ids("dubai-app-front", "CHART_KV")["id"], [f"charts:session:{session}"])
    return session in (_webhook_log(local) or "")


def test_smoke_data_copied_into_a_shared_key_is_caught(local: Local) -> None:
    webhook = local.ids("dubai-app-front", "WEBHOOK_KV")["id"]
    log = _webhook_log(local)
    try:
        with _app_source_changed(
            local,
            "dubai-app-front",
            "&& !sessionId.startsWith(SMOKE_PREFIX)",
            "",
            lambda: _logs_smoke_deliveries(local),
        ):
            outcome, report = local.run("flows", keyword="chart", window=5.0)
    finally:
        if log is None:
            local.api.delete_keys(webhook, ["webhook:messages"])
        else:
            local.api.put_value(webhook, "webhook:messages", log)
    assert _failures(outcome) == {}
    [residue] = report["smoke"]["residue"]
    assert residue.startswith("dubai-app-front.WEBHOOK_KV: key 'webhook:messages' of dubai-app-front-dev-WEBHOOK_KV ")
    assert f"holds smoke data of run {report['smoke']['run_id']}" in residue
    assert report["smoke"]["remaining"] == []
    assert outcome.exit_code == 1


def _pushes_charts(local: Local) -> bool:
    """Does a stream opened on a smoke session push the chart posted after its snapshot?"""
    session = f"kvstack-smoke-probe{time.monotonic_ns()}"
    try:
        with (
            httpx.Client(base_url=local.state.apps["dubai-app-front"], timeout=15) as http,
            connect_sse(http, "GET", "/api/stream", params={"sessionId": session, "timeout": "2"}) as source,
        ):
            events = source.iter_sse()
            assert next(events).event == "snapshot"
            _post_chart(local, session)
            kinds = [event.event for event in events]
    finally:  # a probe cut short by wrangler's reload must not leave its key behind as smoke residue
        local.api.delete_keys(local.ids("dubai-app-front", "CHART_KV")["id"], [f"charts:session:{session}"])
    return "chart" in kinds


def test_chart_app_that_stores_but_never_pushes_is_caught(local: Local) -> None:
    push = 'await writer.write(sseFrame("chart", message, message.id));'
    with _app_source_changed(local, "dubai-app-front", push, "", lambda: not _pushes_charts(local)):
        outcome, report = local.run("flows", keyword="chart", window=3.0)
    failures = _failures(outcome)
    assert list(failures) == ["test_chart_webhook_reaches_the_stream_and_kv[dubai-app-front]"]
    message = failures["test_chart_webhook_reaches_the_stream_and_kv[dubai-app-front]"]
    assert "the SSE stream of session kvstack-smoke-" in message
    assert "expected it within 3 s; found only the events ['snapshot']" in message
    assert report["smoke"]["remaining"] == []
    assert local.smoke_keys_left() == []


def _login_attempts_left(local: Local) -> int:
    """attempts_left of one failed login from a fresh smoke client (4 when the app allows 5)."""
    client = f"kvstack-smoke-probe{time.monotonic_ns()}"
    answer = httpx.post(
        local.state.apps["codex"] + "/api/login",
        json={"username": LOCAL_LOGIN_USER, "password": "kvstack-smoke-wrong-password"},
        headers={TRUSTED_CLIENT_HEADER: client},
        timeout=10,
    )
    local.api.delete_keys(local.ids("codex", "AUTH_SESSION_KV")["id"], [f"rl:login:{client}"])
    return int(answer.json()["attempts_left"])


def test_app_without_a_login_rate_limit_is_caught(local: Local) -> None:
    with _app_source_changed(
        local, "codex", "const RL_LIMIT = 5;", "const RL_LIMIT = 1000;", lambda: _login_attempts_left(local) > 4
    ):
        outcome, _ = local.run("flows", keyword="rate_limit", window=3.0)
    failures = _failures(outcome)
    assert list(failures) == ["test_login_rate_limit[codex]"]
    message = failures["test_login_rate_limit[codex]"]
    assert "the 6th failed login from one client answering 429: not seen within 3 s" in message
    assert "HTTP 401" in message


def test_verdicts_under_api_faults_equal_the_fault_free_run(local: Local) -> None:
    sessions = local.ids("codex", "AUTH_SESSION_KV")["id"]
    local.api.put_value(sessions, "session:" + "e" * 64, json.dumps(SESSION))  # a finding, so failures compare too
    try:
        baseline, _ = local.run("bindings", "tokens", "keyspaces")
        expected = _verdicts(baseline)
        assert [name for name, (outcome, _) in expected.items() if outcome == "failed"] == [
            "checks/keyspaces.py::test_namespace_holds_only_what_its_keyspace_allows[codex.AUTH_SESSION_KV]"
        ]
        for seed in (1, 2):
            local.admin("PUT", "/__kvstack/knobs", {"faults": "429=0.1,500=0.05,drop=0.02", "seed": seed})
            try:
                faulty, report = local.run("bindings", "tokens", "keyspaces")
            finally:
                local.admin("PUT", "/__kvstack/knobs", {"faults": ""})
            assert _verdicts(faulty) == expected, f"faults seeded {seed} changed the verdicts"
            spent = report["spent"]
            assert spent["rate_limited"] + spent["server_errors"] + spent["connection_errors"] > 0
            assert spent["retries"] > 0
    finally:
        local.api.delete_keys(sessions, ["session:" + "e" * 64])


def _verdicts(outcome: RunOutcome) -> dict[str, tuple[str, str | None]]:
    return {r.nodeid: (r.outcome, r.message) for r in outcome.results.ordered()}


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
    assert (
        "expected it to exist to scan it; found none"
        in (failures["test_namespace_holds_only_what_its_keyspace_allows[pickmyclass.KV]"])
    )
    assert outcome.exit_code == 1
