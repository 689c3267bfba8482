"""How `kvstack audit` spends requests on a large account: 200 namespaces, 100,000 keys, on the local Cloudflare.

    python bench/audit_bench.py [--namespaces 200] [--keys 100000] [--sample 100] [--naive-keys 20]

1. Requests: one audit (sampled), counted by the local API's request log (what the server saw), against the
   floor Σ max(1, ⌈keys/1000⌉) list requests + ⌈namespaces/100⌉ namespace pages + ⌈sampled keys/100⌉ bulk
   gets over every namespace of the account (the seeded ones and the stack's own). Goal: those KV requests stay
   within 1.1× of the floor; the few other requests (Pages, scripts, token verifications, one GraphQL query)
   are reported beside them.
2. Under the rate limit: the local Cloudflare limited to 1,200 requests per 300 s and the audit told the same
   (`--rate-limit 1200/300`). Goals: wall time within 1.1× of floor × 300 s / 1,200 and retries ≤ 1% of
   requests (``limit_binds`` says whether the run needed more than 1,200 requests, i.e. whether it had to wait).
3. Against a naive loop: wrangler's `kv key list` and one `kv key get` per key (`--remote`, through the local
   API), timed on ``--naive-keys`` keys of one namespace and extrapolated to the whole account (labelled).
   ``--naive-keys 0`` skips it: the comparison is reported as skipped, and is no failure of the bench.

Exit 0 when every goal measured is met, 1 when one is missed or the naive loop was asked for and could not be
measured (the JSON's ``goals`` and ``missed`` say which).

Seeding writes the keys through the API's bulk write (10,000 items a call, a few namespaces at a time) and says
how long it took. Runs in a temporary copy of the project (its own `.kvstack/local`); stops what it started.
Not a test: numbers depend on the machine and its load. Token values are never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
# Namespaces seeded at once (each its own bulk writes): the storage writes them side by side.
SEED_PARALLEL = 4
sys.path.insert(0, str(ROOT))

from kvstack.audit import AuditOptions, open_target, run_audit  # noqa: E402
from kvstack.local import control  # noqa: E402
from kvstack.local.state import LocalState  # noqa: E402
from kvstack.local.wrangler import node_environment, wrangler_command  # noqa: E402


def _project(tmp: Path) -> Path:
    root = tmp / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "keyspaces", root / "keyspaces")
    return root


class Admin:
    """The local Cloudflare through its API with the bootstrap token (seeding and knobs only)."""

    def __init__(self, state: LocalState, token: str) -> None:
        self.state = state
        self.client = httpx.Client(
            base_url=state.api_url.rstrip("/"), headers={"authorization": f"Bearer {token}"}, timeout=1800
        )
        self.kv = f"/client/v4/accounts/{state.account_id}/storage/kv/namespaces"
        self.id = self.call("GET", "/client/v4/user/tokens/verify")["result"]["id"]  # its requests are not counted

    def call(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in range(5):  # seeding 100,000 keys can overload Miniflare's storage for a moment
            answer = self.client.request(method, path, json=body)
            if answer.status_code < 500:
                break
            time.sleep(2**attempt)
        answer.raise_for_status()
        return answer.json()

    def namespaces(self) -> list[str]:
        found: list[str] = []
        page = 1
        while True:
            items = self.call("GET", f"{self.kv}?page={page}&per_page=100")["result"]
            found += [n["id"] for n in items]
            if len(items) < 100:
                return found
            page += 1


def seed(admin: Admin, namespaces: int, keys: int) -> dict[str, int]:
    """``namespaces`` new namespaces (foreign titles) holding ``keys`` keys between them, written in bulk."""
    ids = [admin.call("POST", admin.kv, {"title": f"bench-{i:04d}"})["result"]["id"] for i in range(namespaces)]
    per = {namespace: keys // len(ids) + (1 if i < keys % len(ids) else 0) for i, namespace in enumerate(ids)}

    def fill(namespace: str) -> None:
        items = [{"key": f"bench:{i:06d}", "value": json.dumps({"n": i})} for i in range(per[namespace])]
        for start in range(0, len(items), 10_000):
            admin.call("PUT", f"{admin.kv}/{namespace}/bulk", items[start : start + 10_000])

    with ThreadPoolExecutor(max_workers=SEED_PARALLEL) as pool:
        list(pool.map(fill, [n for n in ids if per[n]]))
    return per


STORAGE_QUERY = """query($a: string!, $s: Date!, $e: Date!) { viewer { accounts(filter: {accountTag: $a}) {
  kvStorageAdaptiveGroups(filter: {date_geq: $s, date_leq: $e}, limit: 10000) { max { keyCount } } } } }"""


def window(state: LocalState) -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"a": state.account_id, "s": str(today - timedelta(days=6)), "e": str(today)}


def floor(keys_per_namespace: dict[str, int], sample: int | None) -> dict[str, int]:
    """The fewest requests an audit can make: per kind, over every namespace of the account."""
    counts = keys_per_namespace.values()
    return {
        "namespace_pages": math.ceil(len(keys_per_namespace) / 100),
        "key_lists": sum(max(1, math.ceil(count / 1000)) for count in counts),
        "bulk_gets": sum(math.ceil((count if sample is None else min(count, sample)) / 100) for count in counts),
    }


def kind_of(entry: dict[str, Any]) -> str:
    """A request of the log, by what it costs in the floor's terms."""
    route, method = entry["route"], entry["method"]
    if route.endswith("/storage/kv/namespaces") and method == "GET":
        return "namespace_pages"
    if route.endswith("/keys") and method == "GET":
        return "key_lists"
    if route.endswith("/bulk/get"):
        return "bulk_gets"
    return "other"


def audit_once(admin: Admin, root: Path, sample: int, rate: tuple[int, float]) -> dict[str, Any]:
    """One audit, its wall time, what the client counted and what the server saw (per kind)."""
    target = open_target(
        AuditOptions(stack="dev", root=root, local=True, sample=sample, rate_limit=rate[0], rate_window=rate[1])
    )
    before = admin.call("GET", "/__kvstack/requests?since=1000000000")["result_info"]["total_count"]
    started = time.monotonic()
    try:
        result = run_audit(target)
    finally:
        target.close()
    seconds = round(time.monotonic() - started, 2)
    seen = [e for e in admin.call("GET", f"/__kvstack/requests?since={before}")["result"] if e["token"] != admin.id]
    by_kind = dict.fromkeys(("namespace_pages", "key_lists", "bulk_gets", "other"), 0)
    for entry in seen:
        by_kind[kind_of(entry)] += 1
    keys = {namespace_id: stats.keys for namespace_id, stats in result.statistics.items()}
    return {
        "seconds": seconds,
        "server_saw": by_kind,
        "http_429": sum(1 for e in seen if e["status"] == 429),
        "client": dict(result.budget),
        "keys_per_namespace": keys,
    }


def naive(admin: Admin, state: LocalState, namespace: str, keys: int, tmp: Path) -> dict[str, Any]:
    """wrangler's own loop, through the local API: `kv key list` once, then `kv key get` per key."""
    env = node_environment(
        {
            "CLOUDFLARE_API_BASE_URL": f"{state.api_url.rstrip('/')}/client/v4",
            "CLOUDFLARE_API_TOKEN": admin.client.headers["authorization"].split(" ", 1)[1],
            "CLOUDFLARE_ACCOUNT_ID": state.account_id,
            # `kv key list` prints its JSON at wrangler's "log" level, one above the "info" kvstack runs wrangler
            # at for `local up` (LOGGER_LEVELS in wrangler's cli.js): at "info" it prints nothing.
            "WRANGLER_LOG": "log",
        }
    )

    def wrangler(*args: str) -> str:
        done = subprocess.run(
            [*wrangler_command(), *args], env=env, cwd=tmp, capture_output=True, text=True, check=True, timeout=300
        )
        return done.stdout

    # --remote: wrangler 4 reads its local storage by default; remote is the API (CLOUDFLARE_API_BASE_URL).
    remote = ("--remote", "--namespace-id", namespace)
    started = time.monotonic()
    listed = json.loads(wrangler("kv", "key", "list", *remote))
    list_seconds = time.monotonic() - started
    started = time.monotonic()
    for entry in listed[:keys]:
        wrangler("kv", "key", "get", *remote, entry["name"])
    per_key = (time.monotonic() - started) / max(1, min(keys, len(listed)))
    return {
        "list_seconds": round(list_seconds, 2),
        "seconds_per_key_get": round(per_key, 3),
        "keys_listed": len(listed),
        "keys_read": min(keys, len(listed)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=200)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--naive-keys", type=int, default=20, help="0: skip the naive loop")
    parser.add_argument(
        "--rate-limit", default="1200/300", help="N/SECONDS of the limited run (Cloudflare's: 1200/300)"
    )
    args = parser.parse_args()
    count, _, window_seconds = args.rate_limit.partition("/")
    rate = (int(count), float(window_seconds))
    with tempfile.TemporaryDirectory(prefix="kvstack-audit-bench-") as folder:
        tmp = Path(folder)
        root = _project(tmp)
        state = control.up(root, "dev")
        try:
            token = Path(state.token_file).read_text(encoding="utf-8").strip()
            admin = Admin(state, token)
            admin.call("PUT", "/__kvstack/knobs", {"rate_limit": "1000000/300"})  # seeding is not what is measured
            started = time.monotonic()
            per_namespace = seed(admin, args.namespaces, args.keys)
            seeded = round(time.monotonic() - started, 1)
            print(f"seeded {args.keys} keys in {args.namespaces} namespaces in {seeded} s", file=sys.stderr)
            # Cloudflare's storage analytics are precomputed; the local ones read every value once after a change.
            # Done here, timed apart, so that the audits' time is the audit's own (later queries reuse it).
            started = time.monotonic()
            admin.call("POST", "/client/v4/graphql", {"query": STORAGE_QUERY, "variables": window(state)})
            measured = round(time.monotonic() - started, 1)
            free = audit_once(admin, root, args.sample, (1_000_000, 300.0))
            admin.call("PUT", "/__kvstack/knobs", {"rate_limit": args.rate_limit})  # a fresh window
            limited = audit_once(admin, root, args.sample, rate)
            admin.call("PUT", "/__kvstack/knobs", {"rate_limit": "1000000/300"})
            loop: dict[str, Any] = {"status": "skipped", "reason": "--naive-keys 0"}
            if args.naive_keys > 0:
                try:
                    loop = {
                        "status": "measured",
                        **naive(admin, state, next(iter(per_namespace)), args.naive_keys, tmp),
                    }
                except (subprocess.SubprocessError, ValueError, OSError) as exc:
                    loop = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
        finally:
            control.down(root)
    return report(args, per_namespace, {"seeded": seeded, "storage_measured": measured}, free, limited, loop)


def report(
    args: argparse.Namespace,
    per_namespace: dict[str, int],
    seconds: dict[str, float],
    free: dict[str, Any],
    limited: dict[str, Any],
    loop: dict[str, Any],
) -> int:
    account = free.pop("keys_per_namespace")
    limited.pop("keys_per_namespace")
    goal = floor(account, args.sample)
    goal_total = sum(goal.values())
    kv_requests = sum(v for k, v in free["server_saw"].items() if k != "other")
    limited_requests = sum(limited["server_saw"].values())
    limit, window_seconds = args.rate_limit.split("/")
    limited_goal = goal_total * float(window_seconds) / int(limit) * 1.1
    total_keys = sum(account.values())
    naive_seconds = (
        loop["list_seconds"] * len(account) + loop["seconds_per_key_get"] * total_keys
        if loop["status"] == "measured"
        else None
    )
    document: dict[str, Any] = {
        "account": {
            "namespaces": len(account),
            "keys": total_keys,
            "seeded": {"namespaces": len(per_namespace), "keys": sum(per_namespace.values()), **seconds},
            "label": "storage_measured: the local analytics' first storage measurement after seeding (Cloudflare "
            "precomputes it), not part of the audits' time",
        },
        "floor": {**goal, "total": goal_total},
        "audit": free,
        "kv_requests_over_floor": round(kv_requests / goal_total, 3),
        "rate_limited_run": {
            **limited,
            "goal_seconds": round(limited_goal, 1),
            "rate_limit": args.rate_limit,
            # Below N requests the limit never makes the audit wait: the time is the audit's own work.
            "limit_binds": limited_requests > int(limit),
        },
        "retry_share": round(limited["client"].get("retries", 0) / max(1, limited_requests), 4),
        "naive_loop": loop,
    }
    if naive_seconds is not None:
        loop["label"] = (
            f"wrangler kv key list --remote per namespace + kv key get --remote per key, timed on {args.naive_keys} "
            f"keys of one namespace and extrapolated to {total_keys} keys in {len(account)} namespaces"
        )
        loop["extrapolated_seconds"] = round(naive_seconds, 1)
        loop["ratio_to_audit"] = round(naive_seconds / max(0.01, free["seconds"]), 1)
    document["goals"] = goals(document)
    document["missed"] = [name for name, goal in document["goals"].items() if goal["met"] is False]
    print(json.dumps(document, indent=2))
    for name, goal in document["goals"].items():
        verdict = {True: "met", False: "MISSED", None: "skipped"}[goal["met"]]
        print(f"{name}: {verdict}: {goal['measured']} (goal: {goal['goal']})", file=sys.stderr)
    return 1 if document["missed"] else 0


def goals(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal: what was measured, the goal, and met (True/False; None: skipped on purpose, not a failure)."""
    limited = document["rate_limited_run"]
    loop = document["naive_loop"]
    return {
        "kv_requests_over_floor": _goal(document["kv_requests_over_floor"], "≤ 1.1", lambda v: v <= 1.1),
        "rate_limited_seconds": _goal(
            limited["seconds"], f"≤ {limited['goal_seconds']}", lambda v: v <= limited["goal_seconds"]
        ),
        "retry_share": _goal(document["retry_share"], "≤ 0.01", lambda v: v <= 0.01),
        "naive_loop": {
            "measured": loop.get("ratio_to_audit", f"not compared ({loop.get('reason')})"),
            "goal": "measured (a ratio to the audit), or skipped with --naive-keys 0",
            "met": None if loop["status"] == "skipped" else loop["status"] == "measured",
        },
    }


def _goal(measured: float, goal: str, met: Callable[[float], bool]) -> dict[str, Any]:
    return {"measured": measured, "goal": goal, "met": met(measured)}


if __name__ == "__main__":
    sys.exit(main())
