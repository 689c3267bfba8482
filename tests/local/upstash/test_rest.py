"""The local Upstash REST front, driven by the official `upstash-redis` client and by plain HTTP.

Every command kvstack (checks, audit, bench) and the energy reference app use is run here through the
official client, unchanged, against the real valkey-server behind the front.
"""

from __future__ import annotations

import json

import httpx
import pytest
from upstash_redis import Redis
from upstash_redis.errors import UpstashError

from kvstack.local.upstash import UpstashEndpoint, start_upstash
from kvstack.local.wrangler import stop_process

pytestmark = pytest.mark.xdist_group("upstash-rest")


@pytest.fixture
def redis(upstash: UpstashEndpoint) -> Redis:
    return Redis(url=upstash.rest_url, token=upstash.tokens.read_write, allow_telemetry=False)


@pytest.fixture
def read_only(upstash: UpstashEndpoint) -> Redis:
    return Redis(url=upstash.rest_url, token=upstash.tokens.read_only, allow_telemetry=False)


def test_strings_with_ttl_round_trip_through_the_official_client(redis: Redis) -> None:
    assert redis.set("t:username:ada", "user_2abc", ex=3600) is True
    assert redis.get("t:username:ada") == "user_2abc"
    assert 3590 <= redis.ttl("t:username:ada") <= 3600
    assert redis.set("t:registry", json.dumps([100, 101])) is True
    assert json.loads(redis.get("t:registry")) == [100, 101]
    assert redis.get("t:missing") is None
    assert redis.set("t:unicode", "Zürich ⚡ 5 kW") is True
    assert redis.get("t:unicode") == "Zürich ⚡ 5 kW"
    assert redis.type("t:username:ada") == "string"
    assert redis.exists("t:username:ada", "t:missing") == 1
    assert redis.expire("t:registry", 120) is True
    assert redis.persist("t:registry") is True
    assert redis.ttl("t:registry") == -1
    assert redis.delete("t:username:ada", "t:registry", "t:unicode") == 3


def test_hashes_lists_sets_and_sorted_sets(redis: Redis) -> None:
    point = json.dumps({"value": 4.2, "measurementTimeMs": 1, "receivedTimeMs": 2, "metricUnit": "kW"})
    assert redis.hset("t:latest:system:7", values={"source.solar.local/power": point, "b": "2"}) == 2
    assert redis.hget("t:latest:system:7", "source.solar.local/power") == point
    assert redis.hgetall("t:latest:system:7") == {"source.solar.local/power": point, "b": "2"}
    assert redis.hdel("t:latest:system:7", "b") == 1
    assert redis.type("t:latest:system:7") == "hash"
    assert redis.rpush("t:list", "a", "b") == 2
    assert redis.lrange("t:list", 0, -1) == ["a", "b"]
    assert redis.sadd("t:set", "x", "y") == 2
    assert sorted(redis.smembers("t:set")) == ["x", "y"]
    assert redis.zadd("t:zset", {"m": 1.5}) == 1
    assert redis.zrange("t:zset", 0, -1, withscores=True) == [("m", 1.5)]
    assert [redis.type(k) for k in ("t:list", "t:set", "t:zset")] == ["list", "set", "zset"]
    usage = redis.execute(["MEMORY", "USAGE", "t:latest:system:7"])
    assert isinstance(usage, int)
    assert usage > 0
    assert redis.delete("t:latest:system:7", "t:list", "t:set", "t:zset") == 4


def test_scan_with_match_and_count_pages_to_the_end(redis: Redis) -> None:
    pipeline = redis.pipeline()
    for i in range(250):
        pipeline.set(f"scan:dev:{i}", str(i))
        pipeline.set(f"scan:prod:{i}", str(i))
    assert all(result is True for result in pipeline.exec())
    cursor, seen = 0, set()
    while True:
        cursor, keys = redis.scan(cursor, match="scan:dev:*", count=1000)
        seen.update(keys)
        if cursor == 0:
            break
    assert seen == {f"scan:dev:{i}" for i in range(250)}
    cleanup = redis.pipeline()
    for i in range(250):
        cleanup.delete(f"scan:dev:{i}", f"scan:prod:{i}")
    assert sum(cleanup.exec()) == 500


def test_pipeline_answers_each_command_in_order(redis: Redis) -> None:
    pipeline = redis.pipeline()
    pipeline.set("p:a", "1")
    pipeline.hset("p:h", values={"f": "v"})
    pipeline.get("p:a")
    pipeline.hgetall("p:h")
    pipeline.type("p:h")
    pipeline.ttl("p:a")
    pipeline.delete("p:a", "p:h")
    assert pipeline.exec() == [True, 1, "1", {"f": "v"}, "hash", -1, 2]


def test_multi_exec_runs_atomically_and_reports_failures_per_command(redis: Redis) -> None:
    transaction = redis.multi()
    transaction.set("m:a", "x")
    transaction.hset("m:h", values={"f": "v"})
    transaction.get("m:a")
    transaction.delete("m:a", "m:h")
    assert transaction.exec() == [True, 1, "x", 2]


def test_multi_exec_with_a_failing_command_answers_its_error_in_place(upstash: UpstashEndpoint) -> None:
    body = [["SET", "m:s", "x"], ["INCR", "m:s"], ["DEL", "m:s"]]
    response = httpx.post(f"{upstash.rest_url}/multi-exec", json=body, headers=_bearer(upstash.tokens.read_write))
    assert response.status_code == 200
    assert response.json() == [
        {"result": "OK"},
        {"error": "ERR value is not an integer or out of range"},
        {"result": 1},
    ]


def test_a_transaction_with_an_unknown_command_is_discarded_whole(upstash: UpstashEndpoint) -> None:
    body = [["SET", "m:gone", "x"], ["NOSUCHCOMMAND", "m:gone"]]
    response = httpx.post(f"{upstash.rest_url}/multi-exec", json=body, headers=_bearer(upstash.tokens.read_write))
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert "unknown command" in response.json()["error"]
    check = httpx.post(upstash.rest_url, json=["EXISTS", "m:gone"], headers=_bearer(upstash.tokens.read_write))
    assert check.json() == {"result": 0}


def test_the_read_only_token_reads_and_scans_but_every_write_is_refused(redis: Redis, read_only: Redis) -> None:
    redis.set("ro:k", "v")
    assert read_only.get("ro:k") == "v"
    assert read_only.scan(0, match="ro:*", count=100)[1] == ["ro:k"]
    for write in (lambda: read_only.set("ro:k", "w"), lambda: read_only.delete("ro:k")):
        with pytest.raises(UpstashError, match=r"^NOPERM this user has no permissions to run the '\w+' command"):
            write()
    pipeline = read_only.pipeline()
    pipeline.get("ro:k")
    pipeline.set("ro:k", "w")
    with pytest.raises(UpstashError, match="NOPERM"):
        pipeline.exec()
    assert redis.get("ro:k") == "v"
    redis.delete("ro:k")


def test_a_refused_write_has_upstash_s_status_and_error_shape(upstash: UpstashEndpoint) -> None:
    response = httpx.post(upstash.rest_url, json=["SET", "ro:x", "1"], headers=_bearer(upstash.tokens.read_only))
    assert response.status_code == 400
    assert response.json() == {"error": "NOPERM this user has no permissions to run the 'set' command"}
    keys = httpx.post(upstash.rest_url, json=["KEYS", "*"], headers=_bearer(upstash.tokens.read_only))
    assert keys.status_code == 400
    assert keys.json()["error"].startswith("NOPERM")


@pytest.mark.parametrize("authorization", [None, "Bearer Awrong", "Basic dXNlcjpwdw=="])
def test_a_missing_or_unknown_token_is_401_wrongpass(upstash: UpstashEndpoint, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for path, body in (("", ["GET", "k"]), ("/pipeline", [["GET", "k"]]), ("/multi-exec", [["GET", "k"]])):
        response = httpx.post(upstash.rest_url + path, json=body, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "WRONGPASS invalid or missing auth token"}


def test_the_official_client_raises_on_a_wrong_token(upstash: UpstashEndpoint) -> None:
    with pytest.raises(UpstashError, match="WRONGPASS"):
        Redis(url=upstash.rest_url, token="Anot-a-token", allow_telemetry=False).get("k")


def test_path_style_commands_with_body_query_arguments_and_token_parameter(upstash: UpstashEndpoint) -> None:
    token = upstash.tokens.read_write
    assert httpx.get(f"{upstash.rest_url}/set/path:k/v1", headers=_bearer(token)).json() == {"result": "OK"}
    assert httpx.get(f"{upstash.rest_url}/get/path:k?_token={token}").json() == {"result": "v1"}
    posted = httpx.post(f"{upstash.rest_url}/set/path:k?EX=100", content=b'{"a": 1}', headers=_bearer(token))
    assert posted.json() == {"result": "OK"}
    assert httpx.get(f"{upstash.rest_url}/get/path:k", headers=_bearer(token)).json() == {"result": '{"a": 1}'}
    assert 0 < httpx.get(f"{upstash.rest_url}/ttl/path:k", headers=_bearer(token)).json()["result"] <= 100
    encoded = httpx.get(f"{upstash.rest_url}/get/path:k", headers={**_bearer(token), "Upstash-Encoding": "base64"})
    assert encoded.json() == {"result": "eyJhIjogMX0="}
    httpx.get(f"{upstash.rest_url}/del/path:k", headers=_bearer(token))


@pytest.mark.parametrize("command", [["SUBSCRIBE", "c"], ["MULTI"], ["SELECT", "1"], ["AUTH", "x"]])
def test_commands_that_would_hold_or_change_a_pooled_connection_are_refused(
    upstash: UpstashEndpoint, command: list[str]
) -> None:
    response = httpx.post(upstash.rest_url, json=command, headers=_bearer(upstash.tokens.read_write))
    assert response.status_code == 400
    assert response.json() == {"error": f"ERR Command is not available: '{command[0]}'"}


def test_malformed_bodies_are_400_with_an_error(upstash: UpstashEndpoint) -> None:
    headers = _bearer(upstash.tokens.read_write)
    for path, body in (("", b"not json"), ("", b"{}"), ("/pipeline", b"[]"), ("/pipeline", b'[["GET", {"a": 1}]]')):
        response = httpx.post(upstash.rest_url + path, content=body, headers=headers)
        assert response.status_code == 400, (path, body)
        assert response.json()["error"].startswith("ERR")


def test_faults_and_stats_through_the_knobs_route(upstash: UpstashEndpoint) -> None:
    headers = _bearer(upstash.tokens.read_write)
    before = httpx.get(f"{upstash.rest_url}/__kvstack/stats", headers=headers).json()
    knobs = httpx.post(f"{upstash.rest_url}/__kvstack/knobs", json={"faults": "500=1"}, headers=headers)
    assert knobs.json()["result"]["faults"]["500"] == 1
    try:
        failed = httpx.post(upstash.rest_url, json=["PING"], headers=headers)
        assert failed.status_code == 500
        assert set(failed.json()) == {"error"}
        httpx.post(f"{upstash.rest_url}/__kvstack/knobs", json={"faults": "drop=1"}, headers=headers)
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(upstash.rest_url, json=["PING"], headers=headers)
    finally:
        httpx.post(f"{upstash.rest_url}/__kvstack/knobs", json={"faults": ""}, headers=headers)
    httpx.post(f"{upstash.rest_url}/pipeline", json=[["PING"], ["PING"]], headers=headers)
    after = httpx.get(f"{upstash.rest_url}/__kvstack/stats", headers=headers).json()
    assert after["requests"] - before["requests"] == 1
    assert after["commands"] - before["commands"] == 2


def test_data_and_tokens_survive_a_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("restart")
    first = start_upstash(folder / "upstash", folder / "logs")
    try:
        Redis(url=first.rest_url, token=first.tokens.read_write, allow_telemetry=False).set("kept", "yes")
    finally:
        for record in reversed(first.processes):
            stop_process(record.pid)
    second = start_upstash(folder / "upstash", folder / "logs")
    try:
        assert second.tokens == first.tokens
        assert (folder / "upstash" / "token").stat().st_mode & 0o777 == 0o600
        assert (folder / "upstash" / "read-only-token").stat().st_mode & 0o777 == 0o600
        assert first.tokens.read_write not in (folder / "upstash" / "users.acl").read_text()
        client = Redis(url=second.rest_url, token=second.tokens.read_only, allow_telemetry=False)
        assert client.get("kept") == "yes"
    finally:
        for record in reversed(second.processes):
            stop_process(record.pid)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
