"""Where a bulk write and a bulk delete of many keys spend their time in the local Cloudflare.

    python bench/bulk_bench.py [--keys 10000] [--direct-keys 1000]

A real storage `wrangler dev` (Miniflare) and the local API (uvicorn, in this process, as `local up` runs it)
in a temporary folder. Measured, each on a fresh namespace:
- ``api``: the pinned SDK (strict, its default 60 s timeout) bulk-writes ``--keys`` keys, lists them,
  bulk-deletes them, lists again; for the write and the delete, the time to the answer and, separately, to
  the moment the write-behind has stored everything in Miniflare (``…_stored``), with the count still pending
  when the call was answered;
- ``direct``: the same on ``--direct-keys`` keys straight into Miniflare's explorer API in one call each
  (no kvstack code on the path: the storage's own floor);
and for each the wall time, the CPU seconds of workerd (the storage) and of this process (API + SDK), so the
time is split between the API side and Miniflare's KV storage. Counts are asserted (every key read back,
every key gone): a fast wrong answer is not a result.

Not a test: numbers depend on the machine (and on what else runs on it). Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudflare
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kvstack.local.api import storage as storage_module  # noqa: E402
from kvstack.local.api.inprocess import ServedApi, serve_api  # noqa: E402
from kvstack.local.processes import group_members  # noqa: E402
from kvstack.local.wrangler import WranglerProcess  # noqa: E402

ACCOUNT = "0123456789abcdef0123456789abcdef"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of_group(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live members of process group ``pgid``."""
    total = 0
    for pid in group_members(pgid):
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


class Meter:
    """Wall time and the CPU of the storage (workerd) and of this process for each measured step."""

    def __init__(self, storage: WranglerProcess) -> None:
        self.storage = storage
        self.steps: dict[str, dict[str, float]] = {}

    def __call__(self, name: str, step: Callable[[], Any]) -> Any:
        wall, storage_cpu, own_cpu = time.perf_counter(), _cpu_of_group(self.storage.pid), time.process_time()
        result = step()
        self.steps[name] = {
            "wall_s": round(time.perf_counter() - wall, 2),
            "storage_cpu_s": round(_cpu_of_group(self.storage.pid) - storage_cpu, 2),
            "api_and_client_cpu_s": round(time.process_time() - own_cpu, 2),
        }
        return result


def _count(sdk: cloudflare.Cloudflare, namespace: str) -> int:
    return sum(1 for _ in sdk.kv.namespaces.keys.list(namespace, account_id=ACCOUNT, limit=1000))


def _pending(api: ServedApi) -> int:
    answer = httpx.get(f"{api.url}/__kvstack/writes", headers={"authorization": f"Bearer {api.token}"})
    count: int = answer.json()["result"]["pending"]
    return count


def _drain(api: ServedApi) -> int:
    """Wait until the write-behind has stored everything; the number of polls it took."""
    polls = 1
    while _pending(api):
        time.sleep(0.2)
        polls += 1
    return polls


def _stored(api: ServedApi, namespace: str) -> int:
    """Keys in Miniflare's storage (its explorer: what a Worker's binding reads)."""
    base = f"{api.storage.url}/cdn-cgi/explorer/api/storage/kv/namespaces/{namespace}/keys"
    count, cursor = 0, ""
    while True:
        body = httpx.get(base, params={"limit": 1000, **({"cursor": cursor} if cursor else {})}, timeout=600).json()
        count += len(body["result"])
        cursor = body["result_info"]["cursor"]
        if not cursor:
            return count


def bench_api(sdk: cloudflare.Cloudflare, api: ServedApi, meter: Meter, keys: int) -> dict[str, Any]:
    created = sdk.kv.namespaces.create(account_id=ACCOUNT, title=f"bench-{uuid.uuid4().hex[:8]}")
    assert created is not None
    namespace = created.id
    body: Any = [{"key": f"bench:{i:06d}", "value": f"value {i}"} for i in range(keys)]
    written = meter("api_bulk_write", lambda: sdk.kv.namespaces.bulk_update(namespace, account_id=ACCOUNT, body=body))
    pending_after_write = _pending(api)
    listed = meter("api_list_after_write", lambda: _count(sdk, namespace))
    meter("api_bulk_write_stored", lambda: _drain(api))
    stored = _stored(api, namespace)
    names = [item["key"] for item in body]
    deleted = meter("api_bulk_delete", lambda: sdk.kv.namespaces.bulk_delete(namespace, account_id=ACCOUNT, body=names))
    pending_after_delete = _pending(api)
    left = meter("api_list_after_delete", lambda: _count(sdk, namespace))
    meter("api_bulk_delete_stored", lambda: _drain(api))
    counts = {
        "written": written.successful_key_count if written else None,
        "listed": listed,
        "stored": stored,
        "deleted": deleted.successful_key_count if deleted else None,
        "left": left,
        "left_in_storage": _stored(api, namespace),
    }
    expected = {"written": keys, "listed": keys, "stored": keys, "deleted": keys, "left": 0, "left_in_storage": 0}
    assert counts == expected, counts
    return {
        **counts,
        "pending_when_write_answered": pending_after_write,
        "pending_when_delete_answered": pending_after_delete,
    }


def bench_direct(storage: WranglerProcess, meter: Meter, keys: int) -> None:
    """The same work straight into Miniflare's explorer, one call each: the storage's own cost."""
    namespace = f"bench-direct-{uuid.uuid4().hex[:8]}"
    base = f"{storage.url}/cdn-cgi/explorer/api/storage/kv/namespaces/{namespace}"
    items = [{"key": f"bench:{i:06d}", "value": f"value {i}"} for i in range(keys)]
    with httpx.Client(timeout=3600, trust_env=False) as client:
        for name, method, path, body in (
            ("direct_bulk_write", "PUT", "/bulk", items),
            ("direct_bulk_delete", "POST", "/bulk/delete", [item["key"] for item in items]),
        ):

            def call(method: str = method, path: str = path, body: Any = body) -> httpx.Response:
                return client.request(method, base + path, json=body)

            answer = meter(name, call)
            assert answer.status_code == 200, answer.text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--direct-keys", type=int, default=1_000, help="0: skip the explorer floor")
    parser.add_argument("--batch", type=int, default=storage_module.BATCH, help="items per storage call")
    parser.add_argument("--parallel", type=int, default=storage_module.PARALLEL, help="storage calls at a time")
    args = parser.parse_args(argv)
    storage_module.BATCH, storage_module.PARALLEL = args.batch, args.parallel
    with tempfile.TemporaryDirectory(prefix="kvstack-bulk-bench-") as tmp, serve_api(Path(tmp), ACCOUNT) as api:
        meter = Meter(api.storage)
        sdk = cloudflare.Cloudflare(
            api_token=api.token,
            base_url=f"{api.url}/client/v4",
            max_retries=0,
            _strict_response_validation=True,
        )
        counts = bench_api(sdk, api, meter, args.keys)
        if args.direct_keys:
            bench_direct(api.storage, meter, args.direct_keys)
    per_key = {
        name: round(1000 * step["wall_s"] / (args.direct_keys if name.startswith("direct") else args.keys), 2)
        for name, step in meter.steps.items()
        if "bulk" in name and "stored" not in name
    }
    summary = {
        "keys": args.keys,
        "direct_keys": args.direct_keys,
        "batch": storage_module.BATCH,
        "parallel": storage_module.PARALLEL,
        "counts": counts,
        "steps": meter.steps,
        "wall_ms_per_key": per_key,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
