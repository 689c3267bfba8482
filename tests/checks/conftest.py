"""A healthy stack in a fake Cloudflare: the dev catalog, its outputs, rendered wrangler files, sane KV data.

Each test plants one defect in the world and runs the real checks (in-process, through pytest) against it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks.context import CheckContext, CheckOptions, build_context
from checks.runner import RunOutcome, run_checks
from kvstack.catalog import load_catalog
from kvstack.outputs import read_outputs_file
from kvstack.permissions import account_resource, group_by_name
from kvstack.render import plan_render, write_plan
from kvstack.workers import REFERENCE_APPS_DIR
from tests.fakecloudflare import ACCOUNT, TOKEN, FakeCloudflare

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400
SESSION = {"user": "u1", "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T01:00:00Z"}


def hex_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def token_details(token_id: str, name: str, permissions: list[str], expires_on: str) -> dict[str, Any]:
    groups = []
    for permission in permissions:
        group = group_by_name(permission)
        assert group is not None, permission
        groups.append({"id": group.id, "name": group.name})
    return {
        "id": token_id,
        "name": name,
        "status": "active",
        "expires_on": expires_on,
        "policies": [
            {
                "id": hex_id(name + "-policy"),
                "effect": "allow",
                "permission_groups": groups,
                "resources": {account_resource(ACCOUNT): "*"},
            }
        ],
    }


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@dataclass
class World:
    root: Path
    fake: FakeCloudflare
    document: dict[str, Any]
    values: dict[str, str]
    reports: Path
    contexts: list[CheckContext] = field(default_factory=list)

    def ids(self, app: str, binding: str) -> dict[str, str]:
        ids: dict[str, str] = self.document["apps"][app]["bindings"][binding]
        return ids

    def context(self, **options: Any) -> CheckContext:
        context = build_context(
            CheckOptions(
                stack="dev",
                root=self.root,
                outputs_file=self.root / "outputs.json",
                api_url=self.fake.base_url,
                **options,
            )
        )
        self.contexts.append(context)
        return context

    def run(self, *kinds: str, keyword: str | None = None, **options: Any) -> RunOutcome:
        context = self.context(only=kinds or ("bindings", "tokens", "keyspaces", "flows"), **options)
        report = self.reports / f"report-{len(self.contexts)}.json"
        outcome = run_checks(context, json_report=report, junit=report.with_suffix(".xml"), keyword=keyword)
        self.last_report = json.loads(report.read_text())
        return outcome

    def failures(self, outcome: RunOutcome) -> dict[str, str]:
        """Failed (or errored) check names mapped to their messages."""
        return {r.name: r.message or "" for r in outcome.results.ordered() if r.outcome in ("failed", "error")}


def _healthy_data(world: World, now: float) -> None:
    fake = world.fake
    chart = world.ids("dubai-app-front", "CHART_KV")["id"]
    message = {"id": "m1", "receivedAt": "2026-01-01T00:00:00Z", "chart": {"type": "line"}}
    fake.put(chart, "charts:session:s1", json.dumps([message]), now + DAY)
    webhook = world.ids("dubai-app-front", "WEBHOOK_KV")["id"]
    fake.put(webhook, "webhook:messages", json.dumps([{"id": "m1", "sessionId": "s1", "receivedAt": "t"}]))
    cache = world.ids("chatchonk-api", "CACHE_KV")["id"]
    fake.put(cache, "models:openai", json.dumps([{"id": "gpt"}]), now + 200)
    fake.put(cache, "prefs:u1", json.dumps({"theme": "dark"}), now + 1000)
    state = world.ids("pickmyclass", "KV")["id"]
    value = {"class_nbr": 101, "status": "open", "seats_available": 3, "fetched_at": "t"}
    fake.put(state, "class_state:101", json.dumps(value), now + 3000)
    fake.put(
        state, "notif:w1:seat-open", json.dumps({"watch_id": "w1", "type": "seat-open", "sent_at": "t"}), now + 3000
    )
    session = world.ids("codex", "AUTH_SESSION_KV")["id"]
    fake.put(session, "session:" + "a" * 64, json.dumps(SESSION), now + 3000)
    fake.put(session, "rl:login:203.0.113.7", "2", now + 600)
    codex_cache = world.ids("codex", "CACHE_KV")["id"]
    entry = {"feature": "search", "key": "q=1", "value": {"digest": "0" * 64}, "computed_at": "t", "expires_at": "t"}
    fake.put(codex_cache, "cache:search:q=1", json.dumps({**entry, "ttl": 300}), now + 300)


def _build(tmp: Path, fake: FakeCloudflare) -> World:
    root = tmp / "project"
    root.mkdir()
    # The fake world is a Cloudflare: it has no Upstash store (tests/checks/test_upstash.py runs a real one).
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["config"]["kvstack:catalog"]["value"].pop("stores", None)
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    # No app URL declared: the fake serves no app, so /health and the flows have nothing to reach.
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    for app in stack["config"]["kvstack:apps"].values():
        app.pop("url", None)
    stack["config"].pop("kvstack:stores", None)  # the project above declares no store
    (root / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    shutil.copytree(ROOT / "keyspaces", root / "keyspaces")
    for app in ("dubai-app-front", "codex", "pickmyclass"):
        shutil.copytree(REFERENCE_APPS_DIR / app, root / "apps" / app)
    catalog = load_catalog(root, "dev")
    now = time.time()
    expires = _iso(now + 400 * DAY)
    document: dict[str, Any] = {
        "schema_version": 1,
        "project": catalog.project,
        "stack": "dev",
        "environment": catalog.environment,
        "account_id": ACCOUNT,
        "apps": {},
        "tokens": {},
    }
    for app in catalog.apps:
        bindings = {}
        for binding in app.bindings:
            ids = {
                "id": hex_id(binding.title),
                "preview_id": hex_id(binding.preview_title),
                "title": binding.title,
                "preview_title": binding.preview_title,
            }
            bindings[binding.name] = ids
            fake.add_keys(ids["id"], 0)
            fake.namespaces[ids["id"]].title = binding.title
            fake.add_keys(ids["preview_id"], 0)
            fake.namespaces[ids["preview_id"]].title = binding.preview_title
        document["apps"][app.name] = {
            "kind": app.kind,
            "url": None,
            "pages_project": app.pages_project,
            "bindings": bindings,
        }
        if app.kind == "pages":
            assert app.pages_project is not None
            fake.pages[app.pages_project] = {
                "name": app.pages_project,
                "deployment_configs": {
                    env: {"kv_namespaces": {b: {"namespace_id": ids[key]} for b, ids in bindings.items()}}
                    for env, key in (("production", "id"), ("preview", "preview_id"))
                },
            }
    fake.scripts["pickmyclass"] = {
        "bindings": [
            {
                "type": "kv_namespace",
                "name": "KV",
                "namespace_id": document["apps"]["pickmyclass"]["bindings"]["KV"]["id"],
            }
        ]
    }
    fake.scripts["codex-staging"] = {
        "bindings": [
            {"type": "kv_namespace", "name": name, "namespace_id": ids["id"]}
            for name, ids in document["apps"]["codex"]["bindings"].items()
        ]
        + [{"type": "plain_text", "name": "APP_ENV", "text": "staging"}]
    }
    values = {}
    for token in catalog.tokens:
        token_id = hex_id(token.display_name)
        value = f"value-of-{token.key}-" + hex_id(token.key)
        values[token.key] = value
        document["tokens"][token.key] = {
            "id": token_id,
            "name": token.display_name,
            "role": token.role,
            "app": token.app,
            "permissions": list(token.permissions),
            "expires_on": expires,
        }
        fake.tokens[value] = {"id": token_id, "status": "active", "expires_on": expires}
        fake.token_details[token_id] = token_details(token_id, token.display_name, list(token.permissions), expires)
    (root / "outputs.json").write_text(json.dumps({"kvstack": document, "kvstack_token_values": values}))
    for plan in plan_render(catalog, read_outputs_file(root / "outputs.json"), with_secrets=True):
        write_plan(plan)
    reports = tmp / "reports"
    reports.mkdir()
    world = World(root, fake, document, values, reports)
    _healthy_data(world, now)
    return world


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    with FakeCloudflare(max_requests=5000) as fake:
        built = _build(tmp_path, fake)
        yield built
        for context in built.contexts:
            context.close()
