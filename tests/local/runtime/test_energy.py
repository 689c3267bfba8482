"""The energy reference app (kvstack/workers/apps/energy, docs/contracts.md "energy") on real wrangler/Miniflare.

It talks to a real local Upstash (valkey-server behind the REST front) through the official @upstash/redis
client, bundled by wrangler from the pinned npm packages (the staging folder's node_modules link). The
store is observed from outside with kvstack's own REST client: every key under ``dev:`` (the app's
KV_NAMESPACE), or ``test:`` when a request names the test namespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kvstack.local.apps import AppSpec, stage_reference_apps, write_dev_vars
from kvstack.local.runtime import LocalRuntime, start_runtime
from kvstack.local.store_apps import link_node_modules
from kvstack.local.upstash import UpstashEndpoint, start_upstash
from kvstack.local.views import deployed_view
from kvstack.local.wrangler import stop_process
from kvstack.upstash import UpstashRest

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("energy-runtime")]

POINT = "source.solar.local/power"


@dataclass
class Energy:
    runtime: LocalRuntime
    upstash: UpstashEndpoint
    store: UpstashRest
    http: httpx.Client

    def reading(self, system: int, value: float, *, point: str = POINT, **extra: object) -> httpx.Response:
        body = {"systemId": system, "point": point, "value": value, "measurementTimeMs": 1_700_000_000_000}
        return self.http.post("/api/readings", json={**body, "metricUnit": "kW", **extra})

    def points(self, key: str) -> dict[str, dict[str, object]]:
        flat = self.store.command("HGETALL", key)
        return {field: json.loads(text) for field, text in zip(flat[::2], flat[1::2], strict=True)}


@pytest.fixture(scope="module")
def energy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Energy]:
    base = tmp_path_factory.mktemp("energy")
    upstash = start_upstash(base / "upstash", base / "logs")
    runtime: LocalRuntime | None = None
    try:
        folder = stage_reference_apps(base / "apps", ["energy"])["energy"]
        link_node_modules(folder)
        write_dev_vars(
            folder,
            {
                "KV_REST_API_URL": upstash.rest_url,
                "KV_REST_API_TOKEN": upstash.tokens.read_write,
                "KV_NAMESPACE": "dev",
                "KV_TEST_NAMESPACE": "test",
            },
        )
        spec = deployed_view(AppSpec("energy", folder / "wrangler.toml"))
        runtime = start_runtime([spec], persist_to=base / "storage", log_dir=base / "logs", work_dir=base / "work")
        with (
            UpstashRest(upstash.rest_url, upstash.tokens.read_write) as store,
            httpx.Client(base_url=runtime.app("energy").url, timeout=30) as http,
        ):
            yield Energy(runtime, upstash, store, http)
    finally:
        if runtime is not None:
            runtime.stop()
        for record in reversed(upstash.processes):
            stop_process(record.pid)


@pytest.fixture(autouse=True)
def empty_store(energy: Energy) -> None:
    energy.store.command("FLUSHALL")
    energy.store.command("SET", "dev:subscriptions:system:1", "[100, 101]")


def test_health_says_what_is_configured_never_the_url_or_token(energy: Energy) -> None:
    response = energy.http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["app"] == "energy"
    assert body["ok"] is True
    assert body["missing"] == []
    assert body["config"] == {"namespace": "dev", "testNamespace": "test", "restUrlSet": True, "tokenSet": True}
    assert body["view"]
    assert energy.upstash.tokens.read_write not in response.text
    assert energy.upstash.rest_url not in response.text


def test_a_reading_fans_out_to_every_subscribing_composite(energy: Energy) -> None:
    response = energy.reading(1, 3.5)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["composites"] == [100, 101]
    assert body["keys"] == ["dev:latest:system:1", "dev:latest:system:100", "dev:latest:system:101"]
    for system in (1, 100, 101):
        held = energy.points(f"dev:latest:system:{system}")[POINT]
        assert held["value"] == 3.5
        assert held["metricUnit"] == "kW"
        assert held["measurementTimeMs"] == 1_700_000_000_000
        assert isinstance(held["receivedTimeMs"], int)
        latest = energy.http.get(f"/api/latest/{system}").json()
        assert latest == {"systemId": system, "key": f"dev:latest:system:{system}", "points": {POINT: held}}
    # No TTL in the real environments.
    assert energy.store.command("TTL", "dev:latest:system:100") == -1


def test_a_source_without_a_registry_writes_only_its_own_hash(energy: Energy) -> None:
    assert energy.reading(7, 1.0).json()["composites"] == []
    assert sorted(energy.store.command("KEYS", "dev:latest:*")) == ["dev:latest:system:7"]


def test_a_registry_that_is_not_an_int_array_refuses_the_reading_and_writes_nothing(energy: Energy) -> None:
    energy.store.command("SET", "dev:subscriptions:system:2", '["100"]')
    response = energy.reading(2, 1.0)
    assert response.status_code == 500
    assert "dev:subscriptions:system:2" in response.json()["error"]
    assert energy.store.command("EXISTS", "dev:latest:system:2") == 0


def test_username_is_cached_lazily_and_invalidated(energy: Energy) -> None:
    first = energy.http.get("/api/users/by-username/ada")
    second = energy.http.get("/api/users/by-username/ada")
    assert [first.headers["x-cache"], second.headers["x-cache"]] == ["miss", "hit"]
    user_id = first.json()["userId"]
    assert user_id.startswith("user_")
    assert second.json()["userId"] == user_id
    assert energy.store.command("GET", "dev:username:ada") == user_id
    assert energy.store.command("TTL", "dev:username:ada") == -1
    dropped = energy.http.delete("/api/users/by-username/ada")
    assert dropped.json() == {"username": "ada", "key": "dev:username:ada", "invalidated": True}
    assert energy.store.command("EXISTS", "dev:username:ada") == 0
    assert energy.http.get("/api/users/by-username/ada").headers["x-cache"] == "miss"


def test_admin_view_lists_the_registries_of_its_namespace_only(energy: Energy) -> None:
    energy.store.command("SET", "prod:subscriptions:system:9", "[90]")
    assert energy.http.put("/api/admin/subscriptions/3", json={"composites": [30]}).status_code == 200
    body = energy.http.get("/api/admin/subscriptions").json()
    assert body["namespace"] == "dev"
    assert body["subscriptions"] == {"1": [100, 101], "3": [30]}
    assert energy.http.get("/api/admin/subscriptions/3").json()["composites"] == [30]
    assert energy.http.delete("/api/admin/subscriptions/3").json()["deleted"] is True
    assert energy.store.command("EXISTS", "dev:subscriptions:system:3") == 0


@pytest.mark.parametrize(
    ("composites", "why"),
    [([3], "subscribe to itself"), ([1, 1], "not repeat"), (["1"], "non-negative integers"), ([-1], "non-negative")],
)
def test_a_bad_registry_is_refused(energy: Energy, composites: list[object], why: str) -> None:
    response = energy.http.put("/api/admin/subscriptions/3", json={"composites": composites})
    assert response.status_code == 400
    assert why in response.json()["error"]


def test_the_test_namespace_is_the_only_other_one_and_takes_a_ttl(energy: Energy) -> None:
    headers = {"x-kv-namespace": "test"}
    put = energy.http.put(
        "/api/admin/subscriptions/99999", json={"composites": [99998], "ttlSeconds": 60}, headers=headers
    )
    assert put.status_code == 200
    reading = {"systemId": 99999, "point": POINT, "value": 2, "measurementTimeMs": 5, "metricUnit": "W"}
    posted = energy.http.post("/api/readings", json={**reading, "ttlSeconds": 9}, headers=headers)
    assert posted.json()["keys"] == ["test:latest:system:99999", "test:latest:system:99998"]
    assert 0 < energy.store.command("TTL", "test:subscriptions:system:99999") <= 60
    for key in posted.json()["keys"]:
        assert 0 < energy.store.command("TTL", key) <= 9
    assert energy.store.command("KEYS", "dev:*") == ["dev:subscriptions:system:1"]
    refused = energy.http.get("/api/latest/1", headers={"x-kv-namespace": "prod"})
    assert refused.status_code == 400
    assert energy.reading(1, 1.0, ttlSeconds=60).status_code == 400  # no TTL in the real environments


@pytest.mark.parametrize(
    "body",
    [
        {"systemId": "1"},
        {"systemId": -1},
        {"point": "has space"},
        {"point": ""},
        {"value": "3"},
        {"measurementTimeMs": 1.5},
        {"metricUnit": ""},
    ],
)
def test_a_bad_reading_is_refused_and_writes_nothing(energy: Energy, body: dict[str, object]) -> None:
    good = {"systemId": 1, "point": POINT, "value": 1.0, "measurementTimeMs": 1, "metricUnit": "W"}
    response = energy.http.post("/api/readings", json={**good, **body})
    assert response.status_code == 400, response.text
    assert energy.store.command("KEYS", "dev:latest:*") == []


def test_a_store_that_refuses_answers_502_without_the_token(energy: Energy) -> None:
    knobs = f"{energy.upstash.rest_url}/__kvstack/knobs"
    auth = {"Authorization": f"Bearer {energy.upstash.tokens.read_write}"}
    httpx.post(knobs, json={"faults": "500=1.0"}, headers=auth).raise_for_status()
    try:
        response = energy.http.get("/api/latest/1")
    finally:
        httpx.post(knobs, json={"faults": ""}, headers=auth).raise_for_status()
    assert response.status_code == 502
    assert response.json()["error"] == "store error"
    assert energy.upstash.tokens.read_write not in response.text


def test_the_staged_app_imports_the_pinned_client_through_the_node_modules_link(energy: Energy) -> None:
    link = Path(energy.runtime.app("energy").config).parent / "node_modules"
    assert link.is_symlink()
    package = json.loads((link / "@upstash" / "redis" / "package.json").read_text())
    pinned = json.loads((Path(__file__).parents[3] / "kvstack/workers/package.json").read_text())
    assert package["version"] == pinned["dependencies"]["@upstash/redis"]
