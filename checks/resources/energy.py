"""The energy flow: the store's app driven end to end through its HTTP API, the store observed doing its part.

Under the store's test prefix (the app's ``x-kv-namespace`` header, docs/contracts.md "energy") with the
seed's test system ids 99999 (source) and 99998 (composite) and a TTL: register the composite, post a
reading, read it back through the app for the source and the composite (the fan-out), look a username
up twice (a miss, then a hit), invalidate it, and see every key in the store itself — under the test
prefix, of its declared type and schema, with the TTL asked for, and nowhere else. The flow's keys are
deleted whatever happens; then the store is searched for them under every prefix: 0 residue.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from checks.resources.app import poll
from checks.resources.store import SMOKE_COMPOSITE, SMOKE_SOURCE, SMOKE_TTL, StoreResource
from kvstack.upstash import ReplyError, UpstashRest

__all__ = ["NAMESPACE_HEADER", "EnergyFlow"]

# The app serves a request under its test namespace when this header names exactly that namespace.
NAMESPACE_HEADER = "x-kv-namespace"
# Upstash's global replicas may answer a read before a write reached them: reads poll this long.
READ_WINDOW = 10.0
SCAN_COUNT = 10_000
# The app answers 502 when the store refused a command (Upstash's 429/5xx, which its client does not
# retry): such a request is sent again, with backoff, this many times in all. Faults are transient; a
# store that keeps refusing still fails the flow.
STORE_ERROR = 502
ATTEMPTS = 8
# Every key of the flow holds 99999 or 99998 (the username carries the source id).
SMOKE_ID_MATCH = "*9999[89]*"


@dataclass
class EnergyFlow:
    """One run of the flow against ``store``'s app at ``url``; :meth:`run` returns what went wrong."""

    store: StoreResource
    url: str
    window: float = READ_WINDOW
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.store.store.test_prefix is not None
        self.prefix = self.store.store.test_prefix
        self.point = f"kvstack.smoke.{self.store.run_id}/power"
        self.username = f"kvstack-smoke-{SMOKE_SOURCE}-{self.store.run_id}"
        latest = self.store.keyspace.pattern("latest-system").key
        registry = self.store.keyspace.pattern("subscriptions-system").key
        user = self.store.keyspace.pattern("username").key
        # The keys the flow makes the app write, without their prefix.
        self.source_key = latest.example(systemId=str(SMOKE_SOURCE))
        self.composite_key = latest.example(systemId=str(SMOKE_COMPOSITE))
        self.registry_key = registry.example(systemId=str(SMOKE_SOURCE))
        self.username_key = user.example(username=self.username)

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.registry_key, self.source_key, self.composite_key, self.username_key)

    def run(self) -> list[str]:
        with httpx.Client(base_url=self.url, timeout=30.0, headers={NAMESPACE_HEADER: self.prefix}) as app:
            try:
                self._drive(app)
            finally:
                self._clean_up()
        return self.problems

    # --- the flow --------------------------------------------------------------------------------------------

    def _drive(self, app: httpx.Client) -> None:
        registered = self._expect(
            self._send(
                app,
                "PUT",
                f"/api/admin/subscriptions/{SMOKE_SOURCE}",
                json={"composites": [SMOKE_COMPOSITE], "ttlSeconds": SMOKE_TTL},
            ),
            200,
            "register the composite",
        )
        if registered is None:
            return
        now = int(time.time() * 1000)
        reading = {"value": 1.5, "measurementTimeMs": now, "metricUnit": "kW"}
        asked_at = time.time()
        posted = self._expect(
            self._send(
                app,
                "POST",
                "/api/readings",
                json={"systemId": SMOKE_SOURCE, "point": self.point, **reading, "ttlSeconds": SMOKE_TTL},
            ),
            201,
            "post a reading",
        )
        if posted is None:
            return
        if posted.get("composites") != [SMOKE_COMPOSITE]:
            self.problems.append(
                f"post a reading: expected it fanned out to composites [{SMOKE_COMPOSITE}]; "
                f"found {posted.get('composites')!r}"
            )
        for system in (SMOKE_SOURCE, SMOKE_COMPOSITE):
            self._read_back(app, system, reading)
        admin = self._expect(self._send(app, "GET", "/api/admin/subscriptions"), 200, "admin view of subscriptions")
        listed = (admin or {}).get("subscriptions", {}).get(str(SMOKE_SOURCE))
        if admin is not None and listed != [SMOKE_COMPOSITE]:
            self.problems.append(
                f"admin view of subscriptions: expected {SMOKE_SOURCE} → [{SMOKE_COMPOSITE}]; found {listed!r}"
            )
        self._username(app)
        self._in_the_store(asked_at)

    def _read_back(self, app: httpx.Client, system: int, reading: dict[str, Any]) -> None:
        what = f"GET /api/latest/{system}"

        def probe() -> dict[str, Any] | None:
            return self._expect(self._send(app, "GET", f"/api/latest/{system}"), 200, what, quiet=True)

        try:
            body = poll(
                what,
                probe,
                lambda b: b is not None and self.point in (b.get("points") or {}),
                window=self.window,
                describe=lambda b: json.dumps(b)[:300],
            )
        except AssertionError as error:
            role = "the source" if system == SMOKE_SOURCE else "the composite (the fan-out)"
            self.problems.append(f"read back {role}: {error}")
            return
        assert body is not None
        held = body["points"][self.point]
        for name, value in reading.items():
            if held.get(name) != value:
                self.problems.append(f"{what}: expected {name} {value!r} in point {self.point}; found {held!r}")

    def _username(self, app: httpx.Client) -> None:
        path = f"/api/users/by-username/{self.username}"
        first, second = self._send(app, "GET", path), self._send(app, "GET", path)
        found = [self._expect(first, 200, "username lookup"), self._expect(second, 200, "username lookup again")]
        caches = [first.headers.get("x-cache"), second.headers.get("x-cache")]
        if caches != ["miss", "hit"]:
            self.problems.append(f"username lookup: expected x-cache miss then hit (lazy caching); found {caches}")
        ids = {body.get("userId") for body in found if body is not None}
        if len(ids) != 1:
            self.problems.append(f"username lookup: expected one user id from the cache and the lookup; found {ids}")
        dropped = self._expect(self._send(app, "DELETE", path), 200, "username invalidation")
        if dropped is not None and dropped.get("invalidated") is not True:
            self.problems.append(f"username invalidation: expected the cached id dropped; found {dropped!r}")
        if self.store.reader.command("EXISTS", self._key(self.username_key)) != 0:
            self.problems.append(f"username invalidation: {self._key(self.username_key)} is still in the store")
        again = self._send(app, "GET", path)
        answered = self._expect(again, 200, "username lookup after invalidation") is not None
        if answered and again.headers.get("x-cache") != "miss":
            self.problems.append("username lookup after invalidation: expected a miss; found a hit")

    def _in_the_store(self, asked_at: float) -> None:
        """The store holds what the app wrote under the test prefix, typed and valid, with the TTL asked for."""
        keys = [self._key(k) for k in (self.registry_key, self.source_key, self.composite_key)]
        types = self.store.reader.pipeline([("TYPE", k) for k in keys] + [("TTL", k) for k in keys])
        reads = self.store.reader.pipeline([("GET", keys[0]), ("HGETALL", keys[1]), ("HGETALL", keys[2])])
        for index, key in enumerate(keys):
            fitted = self.store.keyspace.match(key[len(self.prefix) + 1 :])
            assert fitted is not None
            if types[index] != fitted.pattern.type:
                self.problems.append(f"store: expected {key} a {fitted.pattern.type}; found {types[index]!r}")
                continue
            value = reads[index]
            if isinstance(value, ReplyError):
                self.problems.append(f"store: reading {key}: {value.message}")
                continue
            if fitted.pattern.type == "hash":
                fields = dict(zip(value[::2], value[1::2], strict=True))
                problems = [f for name, text in fields.items() for f in fitted.pattern.check_field(key, name, text)]
            else:
                problems = fitted.pattern.check_string(key, str(value))
            self.problems += [f"store: {problem}" for problem in problems]
            ttl, low = types[len(keys) + index], SMOKE_TTL - (time.time() - asked_at) - 5
            if not isinstance(ttl, int) or not low <= ttl <= SMOKE_TTL:
                self.problems.append(f"store: expected {key} to expire within {SMOKE_TTL} s; found TTL {ttl!r}")

    # --- clean-up --------------------------------------------------------------------------------------------

    def _clean_up(self) -> None:
        """Delete the flow's keys under the test prefix, then find them under any prefix: 0 residue."""
        writer: UpstashRest = self.store.writer
        writer.command("DEL", *(self._key(k) for k in self.keys))
        for key, rest in self._elsewhere():
            self.problems.append(f"residue: {key} — the app wrote a key of the flow outside {self.prefix}:")
            if rest in (self.source_key, self.composite_key):
                writer.command("HDEL", key, self.point)  # only the flow's point: the hash may hold real ones
            else:
                writer.command("DEL", key)
        left = self.store.reader.pipeline([("EXISTS", self._key(k)) for k in self.keys])
        for key, exists in zip(self.keys, left, strict=True):
            if exists != 0:
                self.problems.append(f"residue: {self._key(key)} is still there after the flow deleted it")

    def _elsewhere(self) -> list[tuple[str, str]]:
        """The flow's keys outside the test prefix, as (key, key without its prefix): one SCAN pass."""
        found: list[tuple[str, str]] = []
        cursor = "0"
        while True:
            reply = self.store.reader.command("SCAN", cursor, "MATCH", SMOKE_ID_MATCH, "COUNT", SCAN_COUNT)
            cursor = str(reply[0])
            for key in map(str, reply[1]):
                head, _, rest = key.partition(":")
                rest = key if key in self.keys else rest
                if head != self.prefix and rest in self.keys and self._holds_flow_data(key, rest):
                    found.append((key, rest))
            if cursor == "0":
                return sorted(found)

    def _holds_flow_data(self, key: str, rest: str) -> bool:
        """A key outside the test prefix is the flow's only if it holds what the flow wrote."""
        if rest in (self.source_key, self.composite_key):
            return bool(self.store.reader.command("HEXISTS", key, self.point))
        if rest == self.registry_key:
            return bool(self.store.reader.command("GET", key) == json.dumps([SMOKE_COMPOSITE]))
        return True  # the username key carries the run id

    @staticmethod
    def _send(app: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to the app; sent again while it answers that the store refused a command."""
        delay = 0.05
        for _attempt in range(ATTEMPTS - 1):
            response = app.request(method, path, **kwargs)
            if response.status_code != STORE_ERROR:
                return response
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        return app.request(method, path, **kwargs)

    def _key(self, key: str) -> str:
        return self.store.store.key(key, prefix=self.prefix)

    def _expect(
        self, response: httpx.Response, status: int, what: str, *, quiet: bool = False
    ) -> dict[str, Any] | None:
        if response.status_code != status:
            if not quiet:
                self.problems.append(
                    f"{what}: {response.request.method} {response.request.url}: expected HTTP {status}; "
                    f"found HTTP {response.status_code} {response.text[:300]!r}"
                )
            return None
        try:
            body = response.json()
        except ValueError:
            if not quiet:
                self.problems.append(f"{what}: expected a JSON answer; found {response.text[:300]!r}")
            return None
        return body if isinstance(body, dict) else None
