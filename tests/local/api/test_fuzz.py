"""Every route of the local API driven by a property-based fuzzer over real HTTP on loopback.

For each route and method, hypothesis draws path parameters, query strings, headers and bodies — near-valid
ones built from the route's fields and hostile ones (huge numbers, deep nesting, bad base64, broken multipart,
garbage JSON). Each answer must be below 500, carry Cloudflare's envelope (except a value read's raw bytes),
and leave the connection usable: the next request on the same keep-alive client must succeed.

All problems are collected (not only the first) so a run counts them; ``make test`` runs a bounded number of
examples per route, the ``slow`` test many more. ``KVSTACK_FUZZ_EXAMPLES`` overrides the per-route budget.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from kvstack.local.api import Settings, create_app
from kvstack.local.api.knobs import Knobs
from kvstack.permissions import account_resource, group_by_name
from tests.local.api.conftest import ACCOUNT, Api, create_token, token_body

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("local-api")]


def endpoints() -> list[tuple[str, str]]:
    """Every (path, method) the assembled app serves, routes added by ``install`` hooks included."""
    with tempfile.TemporaryDirectory() as state:
        app = create_app(Settings(state=Path(state), account_id=ACCOUNT, storage_url="http://127.0.0.1:9"))
        return [
            (route.path, method)
            for route in app.routes
            if isinstance(route, Route)
            for method in sorted(route.methods or ())
            if method != "HEAD"
        ]


ENDPOINTS = endpoints()
KV_READ = group_by_name("Workers KV Storage Read")
assert KV_READ is not None


@dataclass
class Findings:
    """What the fuzzer saw: requests sent, hostile answers, and each problem once per (endpoint, kind)."""

    requests: int = 0
    problems: dict[tuple[str, str, str], str] = field(default_factory=dict)
    server_errors: int = 0

    def note(self, endpoint: tuple[str, str], kind: str, detail: str) -> None:
        self.problems.setdefault((*endpoint, kind), detail[:300])


@dataclass
class Target:
    api: Api
    client: httpx.Client
    namespaces: list[str]
    project: str
    token_id: str


@pytest.fixture(scope="module")
def target(api: Api) -> Iterator[Target]:
    sdk = api.sdk()
    namespaces = [sdk.kv.namespaces.create(account_id=ACCOUNT, title=f"fuzz-{uuid.uuid4().hex[:8]}").id for _ in "ab"]
    sdk.kv.namespaces.bulk_update(namespaces[0], account_id=ACCOUNT, body=[{"key": "k", "value": "v"}])
    project = f"fuzz-{uuid.uuid4().hex[:8]}"
    httpx.post(f"{api.base}/accounts/{ACCOUNT}/pages/projects", json={"name": project}, headers=api.auth())
    token_id = create_token(api, token_body("Workers KV Storage Read"))["id"]
    with httpx.Client(base_url=api.url, headers=api.auth(), timeout=60) as client:
        yield Target(api, client, namespaces, project, token_id)


# --- strategies

HOSTILE_NUMBERS = st.sampled_from(
    ["Infinity", "-Infinity", "NaN", "1e400", "1e20", "9" * 4301, "-1", "0", "59", "60", "abc", "", " ", "1.5"]
)
NUMBERISH = st.one_of(st.integers(min_value=-(10**30), max_value=10**30).map(str), HOSTILE_NUMBERS, st.text(max_size=8))
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)
TEXTISH = st.one_of(st.text(max_size=40), st.sampled_from([".", "..", "k" * 513, "a/b", "%", "é", "\x00"]))
TIMESTAMP = st.one_of(
    st.sampled_from(["2027-11-30", "2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z", "not a date", "", "2027-13-45T99"]),
    JSON_VALUES,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A near-valid field: the plausible value most of the time, any JSON otherwise."""
    return st.one_of(strategy, strategy, strategy, strategy, strategy, JSON_VALUES)


def record(required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]) -> Any:
    return st.fixed_dictionaries(
        {k: maybe(v) for k, v in required.items()}, optional={k: maybe(v) for k, v in optional.items()}
    )


def base64ish() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["aGVsbG8=", "not base64!", "====", "aGVsbG8"]), st.text(max_size=12))


POLICY = record(
    {
        "effect": st.sampled_from(["allow", "deny", "grant"]),
        "permission_groups": st.lists(
            st.one_of(st.fixed_dictionaries({"id": st.sampled_from([KV_READ.id, "nope"])}), JSON_VALUES), max_size=3
        ),
        "resources": st.one_of(
            st.just({account_resource(ACCOUNT): "*"}), st.just("not json"), st.just('{"a": "*"}'), JSON_VALUES
        ),
    },
    {},
)
TOKEN = record(
    {"name": TEXTISH, "policies": st.lists(POLICY, max_size=3)},
    {
        "expires_on": TIMESTAMP,
        "not_before": TIMESTAMP,
        "status": st.sampled_from(["active", "disabled", "expired", "x"]),
        "condition": st.one_of(
            st.just({"request.ip": {"in": ["10.0.0.0/8"], "not_in": ["10.1.0.0/16"]}}),
            st.just({"request.ip": {"in": ["not a cidr"]}}),
            JSON_VALUES,
        ),
    },
)
DEPLOYMENT_CONFIG = record(
    {},
    {
        "kv_namespaces": st.dictionaries(st.text(max_size=8), record({"namespace_id": TEXTISH}, {}), max_size=2),
        "compatibility_date": TIMESTAMP,
        "env_vars": JSON_VALUES,
    },
)
PROJECT = record(
    {"name": TEXTISH},
    {
        "production_branch": TEXTISH,
        "deployment_configs": st.one_of(
            st.fixed_dictionaries({}, optional={"production": DEPLOYMENT_CONFIG, "preview": DEPLOYMENT_CONFIG}),
            st.just([1]),
        ),
        "build_config": JSON_VALUES,
    },
)
BULK_ITEM = record(
    {"key": TEXTISH, "value": st.one_of(st.text(max_size=20), base64ish())},
    {
        "base64": st.booleans(),
        "expiration": st.one_of(st.integers(), st.floats(), HOSTILE_NUMBERS),
        "expiration_ttl": st.one_of(st.integers(), st.floats(), HOSTILE_NUMBERS),
        "metadata": JSON_VALUES,
    },
)
BODIES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("namespaces", "POST"): record({"title": TEXTISH}, {"jurisdiction": st.sampled_from(["eu", "fedramp", "x"])}),
    ("{namespace_id}", "PUT"): record({"title": TEXTISH}, {}),
    ("bulk", "PUT"): st.lists(BULK_ITEM, max_size=4),
    ("bulk", "DELETE"): st.lists(maybe(TEXTISH), max_size=4),
    ("delete", "POST"): st.lists(maybe(TEXTISH), max_size=4),
    ("get", "POST"): record(
        {"keys": st.lists(maybe(TEXTISH), max_size=4)},
        {"type": st.sampled_from(["text", "json", "xml"]), "withMetadata": st.booleans()},
    ),
    ("tokens", "POST"): TOKEN,
    ("{token_id}", "PUT"): TOKEN,
    ("projects", "POST"): PROJECT,
    ("{project_name}", "PATCH"): PROJECT,
    ("knobs", "PUT"): record(
        {},
        {
            "latency_ms": NUMBERISH,
            "faults": st.sampled_from(["429=0.1", "bad", "500=2"]),
            "seed": NUMBERISH,
            "rate_limit": st.sampled_from(["5/60", "x/y", "0/0"]),
            "consistency_delay": NUMBERISH,
        },
    ),
    ("{name}", "PUT"): record({"bindings": st.lists(JSON_VALUES, max_size=2)}, {"compatibility_date": TIMESTAMP}),
}
QUERY_NAMES = [
    "page",
    "per_page",
    "order",
    "direction",
    "limit",
    "cursor",
    "prefix",
    "expiration",
    "expiration_ttl",
    "since",
    "name",
    "scope",
]
RAW_BODIES = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"[" * 100_000, b"{" * 100_000, b'{"a":' * 5_000, b"null", b"[1]", b'"x"', b"\xff\xfe"]),
)


@st.composite
def requests(draw: st.DrawFn, endpoint: tuple[str, str], target: Target) -> dict[str, Any]:
    path, method = endpoint

    def mostly(valid: str, *others: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(st.just(valid), st.just(valid), st.just(valid), *others, TEXTISH)

    ids = {
        "account_id": mostly(ACCOUNT, st.just("f" * 32)),
        "namespace_id": st.one_of(
            st.sampled_from(target.namespaces), st.sampled_from(target.namespaces), mostly(uuid.uuid4().hex)
        ),
        "key": mostly("k", st.just("a:b/c")),
        "project_name": mostly(target.project),
        "token_id": mostly(target.token_id, st.just(uuid.uuid4().hex)),
        "script_name": mostly("fuzz-script"),
        "name": mostly("fuzz-script"),
    }
    url = path
    for name in path.replace("}", "{").split("{")[1::2]:
        param = name.partition(":")[0]
        value = draw(ids.get(param, TEXTISH))
        url = url.replace("{" + name + "}", quote(str(value), safe="") or "x")
    query = draw(st.dictionaries(st.sampled_from(QUERY_NAMES), NUMBERISH, max_size=3))
    headers: dict[str, str] = {}
    auth = draw(st.sampled_from(["bootstrap"] * 12 + ["none", "garbage"]))
    if auth == "none":
        headers["Authorization"] = ""
    elif auth == "garbage":
        headers["Authorization"] = "Bearer " + draw(st.text(alphabet="abc123", min_size=1, max_size=10))
    if draw(st.integers(0, 30)) == 0:
        headers["X-Big"] = "x" * 1_000_000
    segment = path.rstrip("/").rsplit("/", 1)[-1]
    shape = BODIES.get((segment, method), JSON_VALUES)
    kind = draw(st.sampled_from(["shaped"] * 8 + ["json", "raw", "multipart", "none"]))
    request: dict[str, Any] = {"method": method, "url": url, "params": query, "headers": headers}
    if kind == "shaped":
        request["content"] = json.dumps(draw(shape)).encode()
        headers["Content-Type"] = "application/json"
    elif kind == "json":
        request["content"] = json.dumps(draw(JSON_VALUES)).encode()
        headers["Content-Type"] = "application/json"
    elif kind == "raw":
        request["content"] = draw(RAW_BODIES)
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "application/octet-stream", "text/x"]))
    elif kind == "multipart":
        boundary = draw(st.sampled_from(["b0und", ""]))
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        parts = draw(
            st.sampled_from(
                [
                    b'--b0und\r\nContent-Disposition: form-data; name="value"\r\n\r\nv\r\n--b0und--\r\n',
                    b'--b0und\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{bad\r\n--b0und--\r\n',
                    b'--b0und\r\nContent-Disposition: form-data; name="value"\r\n\r\nv',
                    b"garbage",
                ]
            )
        )
        request["content"] = parts
    return request


def check(target: Target, endpoint: tuple[str, str], request: dict[str, Any], findings: Findings) -> None:
    """Send one request and note what is wrong with its answer and with the next one on the connection."""
    findings.requests += 1
    try:
        answer = target.client.request(**request)
    except httpx.HTTPError as exc:
        findings.note(endpoint, "no answer", f"{type(exc).__name__}: {exc}")
        answer = None
    finally:
        target.api.app.context.knobs = Knobs()  # a fuzzed knob (faults, latency) must not leak into the next request
    if answer is not None:
        if answer.status_code >= 500:
            findings.server_errors += 1
            findings.note(
                endpoint, f"HTTP {answer.status_code}", f"{request['method']} {request['url']}: {answer.text}"
            )
        raw_value = endpoint[0].endswith("/values/{key:path}") and endpoint[1] == "GET" and answer.status_code == 200
        if endpoint[0].endswith("/graphql"):
            problem = graphql_problem(answer)
            if problem:
                findings.note(endpoint, "GraphQL answer", f"{problem}: {answer.status_code} {answer.text[:200]}")
        elif not raw_value:
            problem = envelope_problem(answer)
            if problem:
                findings.note(endpoint, "envelope", f"{problem}: {answer.status_code} {answer.text[:200]}")
    try:
        probe = target.client.get("/client/v4/user/tokens/verify", headers=target.api.auth())
        if probe.status_code != 200:
            findings.note(endpoint, "next request", f"{probe.status_code} {probe.text[:200]}")
    except httpx.HTTPError as exc:
        findings.note(endpoint, "next request", f"{type(exc).__name__}: {exc}")


def graphql_problem(answer: httpx.Response) -> str | None:
    """GraphQL answers in its own shape, ``{"data", "errors"?}`` (Cloudflare's GraphQL API does too)."""
    if answer.status_code >= 400:
        return envelope_problem(answer)  # refused before GraphQL ran (auth, rate limit): the v4 envelope
    try:
        body = answer.json()
    except ValueError:
        return "not JSON"
    if not isinstance(body, dict) or "data" not in body:
        return "not a GraphQL response"
    errors = body.get("errors", [])
    if not isinstance(errors, list) or not all(
        isinstance(e, dict) and isinstance(e.get("message"), str) for e in errors
    ):
        return "bad GraphQL errors"
    return None


def envelope_problem(answer: httpx.Response) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        return "not JSON"
    if not isinstance(body, dict) or not {"success", "errors", "messages", "result"} <= body.keys():
        return "not an envelope"
    if not isinstance(body["success"], bool) or not isinstance(body["messages"], list):
        return "bad success/messages"
    errors = body["errors"]
    if not isinstance(errors, list) or not all(
        isinstance(e, dict) and isinstance(e.get("code"), int) and isinstance(e.get("message"), str) for e in errors
    ):
        return "bad errors"
    if body["success"] != (answer.status_code < 400):
        return "success disagrees with the status"
    if not body["success"] and (not errors or body["result"] is not None):
        return "failure without errors or with a result"
    return None


def fuzz(target: Target, endpoint: tuple[str, str], examples: int) -> Findings:
    findings = Findings()

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        check(target, endpoint, data.draw(requests(endpoint, target)), findings)

    run()
    return findings


def examples_per_route(default: int) -> int:
    return int(os.environ.get("KVSTACK_FUZZ_EXAMPLES", default))


def report(endpoint: tuple[str, str], findings: Findings) -> str:
    lines = [f"{endpoint[1]} {endpoint[0]}: {findings.requests} requests, {findings.server_errors} answered 5xx"]
    lines += [f"  {kind}: {detail}" for (_, _, kind), detail in findings.problems.items()]
    return "\n".join(lines)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{m} {p}" for p, m in ENDPOINTS])
def test_no_input_gets_a_5xx_a_bad_envelope_or_a_broken_connection(target: Target, endpoint: tuple[str, str]) -> None:
    findings = fuzz(target, endpoint, examples_per_route(12))
    assert not findings.problems, report(endpoint, findings)


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{m} {p}" for p, m in ENDPOINTS])
def test_no_input_gets_a_5xx_under_a_long_fuzz(target: Target, endpoint: tuple[str, str]) -> None:
    findings = fuzz(target, endpoint, examples_per_route(300))
    assert not findings.problems, report(endpoint, findings)
