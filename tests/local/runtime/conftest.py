"""Fixtures for the runtime tests: the reference apps on real wrangler/Miniflare, once per module.

The apps are staged from kvstack/workers/apps into a temporary folder and their placeholder namespace ids are
replaced with fixed test ids (a stand-in for `kvstack render`, which these tests do not depend on).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kvstack.local.apps import LOCAL_WEBHOOK_SECRET, AppSpec, local_dev_vars, stage_reference_apps, write_dev_vars
from kvstack.local.runtime import LocalRuntime, start_runtime
from kvstack.local.views import deployed_view

# The apps of the dev stack and the section each runs (Pulumi.dev.yaml: codex runs env.staging).
DEV_APPS: dict[str, tuple[str, str]] = {
    "dubai-app-front": ("wrangler.toml", "top"),
    "pickmyclass": ("wrangler.jsonc", "top"),
    "codex": ("wrangler.toml", "env.staging"),
}
PLACEHOLDER_RE = re.compile(r"PLACEHOLDER_([A-Z0-9_]+?)_ID")


def namespace_id(app: str, binding: str) -> str:
    """The fixed test namespace id of ``app``'s ``binding`` (32 hex, like a real id)."""
    return hashlib.sha256(f"{app}/{binding}".encode()).hexdigest()[:32]


def smoke_id(kind: str = "") -> str:
    """A test id carrying the kvstack-smoke marker, unique per call."""
    return f"kvstack-smoke-{kind}{'-' if kind else ''}{uuid.uuid4().hex[:12]}"


def sign(body: bytes, secret: str = LOCAL_WEBHOOK_SECRET) -> str:
    """The x-webhook-signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def fake_render(app: str, config: Path) -> None:
    """Write the test namespace ids over the placeholders of a staged wrangler file."""
    text = config.read_text(encoding="utf-8")
    config.write_text(PLACEHOLDER_RE.sub(lambda m: namespace_id(app, m.group(1)), text), encoding="utf-8")


def drop_binding(config: Path, binding: str) -> None:
    """Remove ``binding``'s kv_namespaces entry (every section) from a staged wrangler file."""
    text = config.read_text(encoding="utf-8")
    if config.suffix == ".toml":
        block = re.compile(r'\[\[(?:env\.[\w-]+\.)?kv_namespaces\]\]\nbinding = "' + binding + r'"\nid = "[^"]*"\n')
        new = block.sub("", text)
    else:
        entry = re.compile(r'\{\s*"binding": "' + binding + r'",\s*"id": "[^"]*",?\s*\},?')
        new = entry.sub("", text)
    assert new != text, f"{config} has no {binding} binding to drop"
    config.write_text(new, encoding="utf-8")


class Explorer:
    """Miniflare's local explorer API of the runtime: the shared KV store, seen from outside the apps."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.client = httpx.Client(base_url=runtime.explorer_url + "/storage/kv/namespaces", timeout=30)

    def get(self, namespace: str, key: str) -> httpx.Response:
        return self.client.get(f"/{namespace}/values/{quote(key, safe='')}")

    def json(self, namespace: str, key: str) -> Any:
        response = self.get(namespace, key)
        assert response.status_code == 200, f"{key} not in {namespace}: HTTP {response.status_code} {response.text}"
        return response.json()

    def key(self, namespace: str, key: str) -> dict[str, Any]:
        """The listing entry of ``key`` (name, expiration, metadata)."""
        response = self.client.get(f"/{namespace}/keys", params={"prefix": key})
        assert response.status_code == 200, response.text
        for entry in response.json()["result"]:
            if entry["name"] == key:
                found: dict[str, Any] = entry
                return found
        raise AssertionError(f"{key} is not listed in namespace {namespace}: {response.json()['result']}")


@dataclass
class Stack:
    """The running apps of one test module."""

    runtime: LocalRuntime
    explorer: Explorer

    def client(self, app: str) -> httpx.Client:
        return httpx.Client(base_url=self.runtime.app(app).url, timeout=30)


def start_stack(base: Path, tweaks: Mapping[str, Callable[[Path], None]] | None = None) -> LocalRuntime:
    """Stage, fake-render and start the dev stack's apps; ``tweaks`` may edit an app's file first."""
    staged = stage_reference_apps(base / "apps", DEV_APPS)
    specs = []
    for app, (file_name, section) in DEV_APPS.items():
        config = staged[app] / file_name
        fake_render(app, config)
        if tweaks and app in tweaks:
            tweaks[app](config)
        write_dev_vars(staged[app], local_dev_vars(app))
        specs.append(deployed_view(AppSpec(app, config, section)))  # what `local up` runs: the deployed view
    return start_runtime(specs, persist_to=base / "storage", log_dir=base / "logs", work_dir=base / "work")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    runtime = start_stack(tmp_path_factory.mktemp("runtime"))
    explorer = Explorer(runtime)
    try:
        yield Stack(runtime, explorer)
    finally:
        explorer.client.close()
        runtime.stop()
