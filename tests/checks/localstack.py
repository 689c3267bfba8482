"""The running `kvstack local up` the check suite's planted-defect tests work on, and what they plant with.

``Local`` runs the checks in-process and plants defects through the official SDK, the admin routes, the
outputs document and the files the runtime runs; ``local`` is the module's one local Cloudflare.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from checks.context import DEFAULT_EXPIRY_DAYS, CheckOptions, build_context
from checks.resources import poll
from checks.runner import RunOutcome, run_checks
from kvstack.cloudflare import ApiSettings, CloudflareApi, connect
from kvstack.local import control
from kvstack.local.state import LocalState, local_outputs_file, state_dir
from kvstack.permissions import account_resource, group_by_name

from .conftest import ROOT


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

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``args`` run as a user would on this stack, from the repository: `kvstack …` or `pytest checks …`.

        Only the local state says where the API and its token are: no CLOUDFLARE_ or KVSTACK_ variable leaks in.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KVSTACK_", "CLOUDFLARE_"))}
        return subprocess.run(
            [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600
        )

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

    def bind_pages(self, deployment: str, binding: str, entry: dict[str, str] | None) -> None:
        """One KV binding of the Pages app's ``deployment`` config set (None: removed) through the SDK."""
        configs: Any = {deployment: {"kv_namespaces": {binding: entry}}}  # None removes: the SDK types omit it
        project = self.document["apps"]["dubai-app-front"]["pages_project"]
        self.api.sdk.pages.projects.edit(project, account_id=self.account_id, deployment_configs=configs)

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


def failures_of(outcome: RunOutcome) -> dict[str, str]:
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


def only_failure(outcome: RunOutcome, name: str) -> str:
    """The message of the run's one failure, which must be ``name``."""
    failures = failures_of(outcome)
    assert list(failures) == [name]
    return failures[name]


def every_token_check(key: str) -> set[str]:
    return {
        f"test_token_{check}[{key}]"
        for check in (
            "verifies_as_active",
            "expiry_is_far_enough",
            "holds_exactly_the_declared_permissions",
            "is_scoped_to_this_account_only",
        )
    }


def coverage_of(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {row.pop("kind"): row for row in report["coverage"]}
