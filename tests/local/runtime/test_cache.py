"""codex, the cache flow: read-through cache:<feature>:<key> with a TTL, hit/miss header, invalidation."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from tests.local.runtime.conftest import Stack, namespace_id, smoke_id

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]

APP = "codex"
CACHE_NS = namespace_id(APP, "CACHE_KV")


@pytest.fixture(scope="module")
def app(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client(APP) as client:
        yield client


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def test_first_read_is_a_miss_that_fills_the_cache_then_hits(app: httpx.Client, stack: Stack) -> None:
    key = smoke_id("c")
    miss = app.get(f"/api/cache/reports/{key}")
    assert miss.status_code == 200, miss.text
    assert miss.headers["x-cache"] == "miss"
    assert miss.headers["x-cache-key"] == f"cache:reports:{key}"
    entry = miss.json()
    assert entry["value"] == {"digest": hashlib.sha256(f"reports:{key}".encode()).hexdigest()}
    assert (entry["feature"], entry["key"], entry["ttl"]) == ("reports", key, 300)
    assert stack.explorer.json(CACHE_NS, f"cache:reports:{key}") == entry

    hit = app.get(f"/api/cache/reports/{key}")
    assert hit.headers["x-cache"] == "hit"
    assert hit.json() == entry


def test_cache_entries_expire_after_their_ttl(app: httpx.Client, stack: Stack) -> None:
    default_key, short_key = smoke_id("c"), smoke_id("c")
    default = app.get(f"/api/cache/reports/{default_key}").json()
    short = app.get(f"/api/cache/reports/{short_key}", params={"ttl": "120"}).json()
    for entry, ttl in ((default, 300), (short, 120)):
        assert entry["ttl"] == ttl
        assert epoch(entry["expires_at"]) - epoch(entry["computed_at"]) == ttl
        expiration = stack.explorer.key(CACHE_NS, f"cache:reports:{entry['key']}")["expiration"]
        assert 0 <= expiration - epoch(entry["expires_at"]) <= 2, (entry, expiration)


def test_deleting_a_key_invalidates_it(app: httpx.Client, stack: Stack) -> None:
    key = smoke_id("c")
    app.get(f"/api/cache/reports/{key}")
    response = app.delete(f"/api/cache/reports/{key}")
    assert response.status_code == 200, response.text
    assert response.json() == {"key": f"cache:reports:{key}", "deleted": True}
    assert stack.explorer.get(CACHE_NS, f"cache:reports:{key}").status_code == 404
    assert app.get(f"/api/cache/reports/{key}").headers["x-cache"] == "miss"
    assert app.delete(f"/api/cache/nothing/{smoke_id()}").json()["deleted"] is False


def test_deleting_a_feature_invalidates_all_its_keys_and_only_them(app: httpx.Client) -> None:
    feature, other = smoke_id("feature"), smoke_id("feature")
    keys = [f"k{i}" for i in range(3)]
    for key in keys:
        app.get(f"/api/cache/{feature}/{key}")
    app.get(f"/api/cache/{other}/k0")
    response = app.delete(f"/api/cache/{feature}")
    assert response.status_code == 200, response.text
    assert response.json() == {"prefix": f"cache:{feature}:", "deleted": 3}
    assert [app.get(f"/api/cache/{feature}/{key}").headers["x-cache"] for key in keys] == ["miss"] * 3
    assert app.get(f"/api/cache/{other}/k0").headers["x-cache"] == "hit"


@pytest.mark.parametrize(
    "path",
    [
        "/api/cache/Bad_Feature/k",
        "/api/cache/reports/bad%20key",
        "/api/cache/reports/kvstack-smoke-ttl-too-short?ttl=59",
        "/api/cache/a/b/c",
    ],
)
def test_invalid_cache_requests_are_a_400(app: httpx.Client, path: str) -> None:
    response = app.get(path)
    assert response.status_code == 400, response.text


def test_reading_a_whole_feature_is_not_allowed(app: httpx.Client) -> None:
    response = app.get("/api/cache/reports")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE"
