"""How `kvstack audit` spends requests on a large account: 200 namespaces, 100,000 keys, on the local Cloudflare.

    python bench/audit_bench.py [--namespaces 200] [--keys 100000] [--sample 100] [--naive-keys 20]

1. Requests: one audit (sampled) against the floor Σ max(1, ⌈keys/1000⌉) list requests + ⌈namespaces/100⌉
   namespace pages + ⌈sampled keys/100⌉ bulk gets. Goal: the audit's KV requests stay within 1.1× of that floor
   (the few other requests — Pages, scripts, tokens, one GraphQL query — are reported beside it).
2. Under the rate limit: the local Cloudflare limited to 1,200 requests per 300 s and the audit told the same
   (`--rate-limit 1200/300`). Goals: wall time within 1.1× of floor × 300 s / 1,200 and retries ≤ 1% of requests.
3. Against a naive loop: wrangler's `kv key list` and one `kv key get` per key, timed on ``--naive-keys`` keys of
   one namespace and extrapolated to the whole account (labelled as such).

Runs in a temporary copy of the project (its own `.kvstack/local`); stops what it started. Not a test: numbers
depend on the machine and its load. Token values are never printed.
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
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
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
            base_url=state.api_url.rstrip("/"), headers={"authorization": f"Bearer {token}"}, timeout=120
        )
        self.kv = f"/client/v4/accounts/{state.account_id}/storage/kv/namespaces"

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
    """Top the account up to ``namespaces`` (foreign titles) and spread ``keys`` over them, written in bulk."""
    existing = admin.namespaces()
    for index in range(namespaces - len(existing)):
        admin.call("POST", admin.kv, {"title": f"bench-{index:04d}"})
    ids = admin.namespaces()[:namespaces]
    per = {namespace: keys // len(ids) + (1 if i < keys % len(ids) else 0) for i, namespace in enumerate(ids)}
    for namespace, count in per.items():
        items = [{"key": f"bench:{i:06d}", "value": json.dumps({"n": i})} for i in range(count)]
        for start in range(0, len(items), 10_000):
            admin.call("PUT", f"{admin.kv}/{namespace}/bulk", items[start : start + 10_000])
    return per


def floor(per_namespace: dict[str, int], sample: int) -> int:
    lists = sum(max(1, math.ceil(count / 1000)) for count in per_namespace.values())
    pages = math.ceil(len(per_namespace) / 100)
    bulk_gets = sum(math.ceil(min(count, sample) / 100) for count in per_namespace.values())
    return lists + pages + bulk_gets


def audit_once(root: Path, sample: int, rate: tuple[int, float]) -> dict[str, Any]:
    target = open_target(
        AuditOptions(stack="dev", root=root, local=True, sample=sample, rate_limit=rate[0], rate_window=rate[1])
    )
    started = time.monotonic()
    try:
        result = run_audit(target)
    finally:
        target.close()
    spent = dict(result.budget)
    return {"seconds": round(time.monotonic() - started, 2), **spent}


def naive(admin: Admin, state: LocalState, namespace: str, keys: int, tmp: Path) -> dict[str, Any]:
    env = node_environment(
        {
            "CLOUDFLARE_API_BASE_URL": f"{state.api_url.rstrip('/')}/client/v4",
            "CLOUDFLARE_API_TOKEN": admin.client.headers["authorization"].split(" ", 1)[1],
            "CLOUDFLARE_ACCOUNT_ID": state.account_id,
        }
    )

    def wrangler(*args: str) -> str:
        done = subprocess.run(
            [*wrangler_command(), *args], env=env, cwd=tmp, capture_output=True, text=True, check=True, timeout=300
        )
        return done.stdout

    remote = ("--remote", "--namespace-id", namespace)
    started = time.monotonic()
    printed = wrangler("kv", "key", "list", *remote)  # wrangler may print a banner before the JSON
    listed = json.loads(printed[printed.index("[") : printed.rindex("]") + 1])
    list_seconds = time.monotonic() - started
    started = time.monotonic()
    for entry in listed[:keys]:
        wrangler("kv", "key", "get", *remote, entry["name"])
    per_key = (time.monotonic() - started) / max(1, min(keys, len(listed)))
    return {
        "list_seconds": round(list_seconds, 2),
        "seconds_per_key_get": round(per_key, 3),
        "keys_listed": len(listed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=200)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--naive-keys", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kvstack-audit-bench-") as folder:
        tmp = Path(folder)
        root = _project(tmp)
        state = control.up(root, "dev")
        try:
            token = Path(state.token_file).read_text(encoding="utf-8").strip()
            admin = Admin(state, token)
            admin.call("PUT", "/__kvstack/knobs", {"rate_limit": "100000/300"})  # seeding is not what is measured
            started = time.monotonic()
            per_namespace = seed(admin, args.namespaces, args.keys)
            seeded = round(time.monotonic() - started, 1)
            goal = floor(per_namespace, args.sample)
            free = audit_once(root, args.sample, (100_000, 300.0))
            admin.call("PUT", "/__kvstack/knobs", {"rate_limit": "1200/300"})  # Cloudflare's, a fresh window
            admin.call("DELETE", "/__kvstack/requests")
            limited = audit_once(root, args.sample, (1200, 300.0))
            rate_limited = sum(1 for e in admin.call("GET", "/__kvstack/requests")["result"] if e["status"] == 429)
            admin.call("PUT", "/__kvstack/knobs", {"rate_limit": "100000/300"})
            print(json.dumps({"floor": goal, "audit": free, "rate_limited": limited}), file=sys.stderr)
            try:
                loop: dict[str, Any] = naive(admin, state, next(iter(per_namespace)), args.naive_keys, tmp)
            except (subprocess.SubprocessError, ValueError, OSError) as exc:
                loop = {"not_measured": f"{type(exc).__name__}: {exc}"}
        finally:
            control.down(root)
    total_keys = sum(per_namespace.values())
    naive_seconds = (
        loop["list_seconds"] * len(per_namespace) + loop["seconds_per_key_get"] * total_keys
        if "list_seconds" in loop
        else 0.0
    )
    limited_goal = goal * 300 / 1200
    report = {
        "account": {"namespaces": len(per_namespace), "keys": total_keys, "seeded_in_seconds": seeded},
        "floor_requests": goal,
        "audit": free,
        "audit_requests_over_floor": round(free["api_requests"] / goal, 3),
        "rate_limited_run": {**limited, "http_429": rate_limited, "goal_seconds": round(limited_goal * 1.1, 1)},
        "retry_share": round(limited["retries"] / max(1, limited["api_requests"]), 4),
        "naive_loop_extrapolated": {
            **loop,
            "label": f"wrangler kv key list per namespace + kv key get per key, timed on {args.naive_keys} keys and "
            f"extrapolated to {total_keys} keys",
            "seconds": round(naive_seconds, 1),
            "ratio_to_audit": round(naive_seconds / max(0.01, free["seconds"]), 1),
        },
    }
    print(json.dumps(report, indent=2))
    within = report["audit_requests_over_floor"] <= 1.1 and limited["seconds"] <= limited_goal * 1.1
    return 0 if within and report["retry_share"] <= 0.01 else 1


if __name__ == "__main__":
    sys.exit(main())
