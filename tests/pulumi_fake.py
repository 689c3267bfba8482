"""A fake Cloudflare for the program's tests, and runs of the real program against it.

The fake is written from Cloudflare's side, independently of infra/: it switches on the provider's
type tokens, hands out ids and token values of its own, and lists permission groups whose ids are
*not* those of kvstack.permissions, so a test can tell an id looked up by name from one hard-coded.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import yaml

from kvstack.engine import ProgramRun, run_program
from kvstack.permissions import PERMISSION_GROUPS

ROOT = Path(__file__).resolve().parents[1]

KV_NAMESPACE = "cloudflare:index/workersKvNamespace:WorkersKvNamespace"
PAGES_PROJECT = "cloudflare:index/pagesProject:PagesProject"
ACCOUNT_TOKEN = "cloudflare:index/accountToken:AccountToken"
PERMISSION_GROUPS_LIST = (
    "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList"
)


def fake_id(*parts: str) -> str:
    return hashlib.md5("fake\x00".join(parts).encode()).hexdigest()


# The account's permission groups as the fake lists them: same names as Cloudflare, ids of its own.
FAKE_GROUPS: dict[str, str] = {group.name: fake_id("group", group.name) for group in PERMISSION_GROUPS}


class FakeCloudflare(pulumi.runtime.Mocks):
    """Creates what it is asked to, like Cloudflare would, and remembers every call."""

    def __init__(self, groups: dict[str, str] | None = None) -> None:
        self.groups = FAKE_GROUPS if groups is None else groups
        self.lock = threading.Lock()
        self.created: list[pulumi.runtime.MockResourceArgs] = []
        self.calls: list[pulumi.runtime.MockCallArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        with self.lock:
            self.created.append(args)
        state = dict(args.inputs)
        if args.typ == KV_NAMESPACE:
            if args.resource_id:
                return args.resource_id.split("/")[1], state
            return fake_id("namespace", state["title"]), state
        if args.typ == PAGES_PROJECT:
            return fake_id("pages", state["name"]), state
        if args.typ == ACCOUNT_TOKEN:
            state["value"] = token_value(state["name"])
            return fake_id("token", state["name"]), state
        raise AssertionError(f"the fake Cloudflare has no resource type {args.typ}")

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        with self.lock:
            self.calls.append(args)
        if args.token == PERMISSION_GROUPS_LIST:
            results = [
                {"id": group_id, "name": name, "scopes": ["com.cloudflare.api.account"]}
                for name, group_id in self.groups.items()
            ]
            return {"results": results}, []
        raise AssertionError(f"the fake Cloudflare has no data source {args.token}")


def token_value(token_name: str) -> str:
    return "fake-secret-" + fake_id("value", token_name)


def run(stack: str, root: Path = ROOT, mocks: pulumi.runtime.Mocks | None = None) -> ProgramRun:
    return run_program(root, stack, mocks or FakeCloudflare())


def titles_to_ids(program: ProgramRun) -> dict[str, str]:
    return {r.inputs["title"]: str(r.id) for r in program.of_type(KV_NAMESPACE)}


Doc = dict[str, Any]


def catalog_copy(tmp: Path, stack: str, edit: Callable[[Doc, Doc], None]) -> Path:
    """The seed catalog copied to ``tmp``, with ``edit(project, stack_config)`` applied."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    stack_doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    edit(project["config"]["kvstack:catalog"]["value"], stack_doc["config"])
    (tmp / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (tmp / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(stack_doc, sort_keys=False))
    return tmp


def seed(stack: str) -> tuple[Doc, Doc]:
    """The seed catalog as written: the project's catalog value and the stack's config."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    stack_doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return project["config"]["kvstack:catalog"]["value"], stack_doc["config"]
