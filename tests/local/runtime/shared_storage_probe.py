"""Stress probe: do two Workers and the explorer API see one KV store, reliably, under concurrent writes?

    python -m tests.local.runtime.shared_storage_probe --mode processes -n 500 [--ttl]
    python -m tests.local.runtime.shared_storage_probe --mode single -n 500 [--ttl]

``processes``: three `wrangler dev` processes (probe A, probe B, the storage worker) share one
``--persist-to`` folder. ``single``: kvstack's runtime, one `wrangler dev` running the router, A, B and
the storage worker. Both bind namespace ``…beef`` and run the same bounded workload:

1. sequential: write on one worker, read at once on the other (every 5th also through the explorer),
   every 7th key deleted on one and checked gone on the other;
2. concurrent: ``n`` distinct keys put from 8 threads through A, B and the explorer, then read back
   from A and B and listed from A, B and the explorer;
3. hot key: ``n`` concurrent overwrite-then-read of one key through A and B; all must agree at the end;
4. ``--ttl``: a 60 s TTL put on A, listed with its expiration on B, gone from B, the lists and the
   explorer 62 s later (the only wall-clock step; not part of the test suite).

Prints one JSON document of counts; every count but the ``*_ops`` ones should be 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from kvstack.local.apps import AppSpec
from kvstack.local.runtime import start_runtime
from kvstack.local.wrangler import WranglerProcess, start_wrangler_dev
from kvstack.workers import STORAGE_DIR

PROBE_DIR = Path(__file__).parent / "probe"
NAMESPACE = "0000000000000000000000000000beef"


def _stage_probe(dest: Path, name: str) -> Path:
    dest.mkdir(parents=True)
    shutil.copyfile(PROBE_DIR / "worker.js", dest / "worker.js")
    text = (PROBE_DIR / "wrangler.toml").read_text().replace('name = "kvstack-probe"', f'name = "{name}"')
    (dest / "wrangler.toml").write_text(text)
    return dest / "wrangler.toml"


@contextmanager
def _processes(base: Path) -> Iterator[tuple[str, str, str, list[Path]]]:
    """Three `wrangler dev` processes on one --persist-to folder: (url A, url B, explorer base, logs)."""
    persist = base / "persist"
    configs = {
        "a": _stage_probe(base / "a", "probe-a"),
        "b": _stage_probe(base / "b", "probe-b"),
    }
    shutil.copytree(STORAGE_DIR, base / "storage", ignore=shutil.ignore_patterns(".wrangler"))
    configs["storage"] = base / "storage" / "wrangler.toml"
    started: list[WranglerProcess] = []
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [
                pool.submit(start_wrangler_dev, config, name=name, persist_to=persist, log_file=base / f"{name}.log")
                for name, config in configs.items()
            ]
            for future in futures:
                started.append(future.result())
        a, b, storage = started
        yield a.url, b.url, f"{storage.url}/cdn-cgi/explorer/api", [p.log_file for p in started]
    finally:
        for process in started:
            process.stop()


@contextmanager
def _single(base: Path) -> Iterator[tuple[str, str, str, list[Path]]]:
    """kvstack's runtime: router + A + B + storage worker in one `wrangler dev`."""
    specs = [
        AppSpec("a", _stage_probe(base / "a", "probe-a")),
        AppSpec("b", _stage_probe(base / "b", "probe-b")),
    ]
    runtime = start_runtime(specs, persist_to=base / "persist", log_dir=base / "logs", work_dir=base / "work")
    try:
        yield runtime.app("a").url, runtime.app("b").url, runtime.explorer_url, [runtime.log_file]
    finally:
        runtime.stop()


class _Probe:
    """The workload's clients and tallies."""

    def __init__(self, a: httpx.Client, b: httpx.Client, explorer: httpx.Client, explorer_base: str) -> None:
        self.a, self.b, self.ex = a, b, explorer
        self.values = f"{explorer_base}/storage/kv/namespaces/{NAMESPACE}/values/"
        self.keys = f"{explorer_base}/storage/kv/namespaces/{NAMESPACE}/keys"
        self.counts: dict[str, Any] = dict.fromkeys(COUNTS, 0)
        self.examples: list[str] = []

    def note(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{kind}: {detail}")

    def sequential(self, n: int) -> None:
        for i in range(n):
            writer, reader = (self.a, self.b) if i % 2 == 0 else (self.b, self.a)
            key, value = f"s{i % 37}", f"v{i}"
            self.counts["sequential_ops"] += 1
            put = writer.post("/put", params={"key": key}, content=value)
            if put.status_code != 200:
                self.note("put_failures", f"sequential put {key}: HTTP {put.status_code}")
                continue
            got = reader.get("/get", params={"key": key})
            if got.text != value:
                self.note("stale_reads", f"{key}: wrote {value}, read HTTP {got.status_code} {got.text[:40]!r}")
            if i % 5 == 0:
                seen = self.ex.get(self.values + quote(key, safe=""))
                if seen.text != value:
                    self.note("explorer_stale_reads", f"{key}: wrote {value}, explorer {seen.status_code}")
            if i % 7 == 0:
                reader.post("/delete", params={"key": key})
                gone = writer.get("/get", params={"key": key})
                if gone.status_code != 404:
                    self.note("deletes_not_seen", f"{key}: deleted, still HTTP {gone.status_code}")

    def _put(self, i: int) -> tuple[int, int]:
        key, value = f"c{i}", f"cv{i}"
        if i % 5 == 4:
            return i, self.ex.put(self.values + key, content=value).status_code
        client = self.a if i % 2 else self.b
        return i, client.post("/put", params={"key": key}, content=value).status_code

    def concurrent(self, n: int) -> None:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(self._put, range(n)))
        self.counts["concurrent_ops"] = n
        written = set()
        for i, status in results:
            if status == 200:
                written.add(i)
            else:
                self.note("put_failures", f"concurrent put c{i}: HTTP {status}")
        for i in written:
            for client in (self.a, self.b):
                got = client.get("/get", params={"key": f"c{i}"})
                if got.text != f"cv{i}":
                    self.note("lost_writes", f"c{i}: HTTP {got.status_code}")
        listed = [len(client.get("/list", params={"prefix": "c"}).json()) for client in (self.a, self.b)]
        listed.append(len(self.ex.get(self.keys, params={"prefix": "c", "per_page": 1000}).json().get("result", [])))
        self.counts["listed"] = {"a": listed[0], "b": listed[1], "explorer": listed[2], "written": len(written)}
        if any(count != len(written) for count in listed):
            self.note("list_mismatches", f"listed {listed}, written {len(written)}")

    def _hot(self, i: int) -> int:
        client = self.a if i % 2 else self.b
        client.post("/put", params={"key": "hot"}, content=f"h{i}")
        return client.get("/get", params={"key": "hot"}).status_code

    def hot_key(self, n: int) -> None:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(self._hot, range(n)))
        self.counts["hot_ops"] = n
        self.counts["hot_read_failures"] = sum(status != 200 for status in statuses)
        finals = {client.get("/get", params={"key": "hot"}).text for client in (self.a, self.b)}
        finals.add(self.ex.get(self.values + "hot").text)
        if len(finals) != 1:
            self.note("hot_diverged", f"final values {sorted(finals)}")

    def ttl(self) -> None:
        self.a.post("/put", params={"key": "ttl", "ttl": "60"}, content="x")
        before = self.b.get("/list", params={"prefix": "ttl"}).json()
        time.sleep(62)
        after = {
            "b_get": self.b.get("/get", params={"key": "ttl"}).status_code,
            "b_list": self.b.get("/list", params={"prefix": "ttl"}).json(),
            "explorer_get": self.ex.get(self.values + "ttl").status_code,
        }
        self.counts["ttl"] = {"listed_before": before, "after_62s": after}
        expired = after["b_get"] == 404 and not after["b_list"] and after["explorer_get"] == 404
        self.counts["ttl_not_expired"] = int(not expired)


COUNTS = [
    "sequential_ops",
    "stale_reads",
    "explorer_stale_reads",
    "deletes_not_seen",
    "concurrent_ops",
    "put_failures",
    "lost_writes",
    "list_mismatches",
    "hot_ops",
    "hot_read_failures",
    "hot_diverged",
]


def _workload(url_a: str, url_b: str, explorer: str, n: int, ttl: bool) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=16)
    with (
        httpx.Client(base_url=url_a, timeout=30, limits=limits) as a,
        httpx.Client(base_url=url_b, timeout=30, limits=limits) as b,
        httpx.Client(timeout=30, limits=limits) as ex,
    ):
        probe = _Probe(a, b, ex, explorer)
        probe.sequential(n)
        probe.concurrent(n)
        probe.hot_key(n)
        if ttl:
            probe.ttl()
    return {**probe.counts, "examples": probe.examples}


def _log_errors(logs: list[Path]) -> dict[str, int]:
    text = "\n".join(log.read_text(errors="replace") for log in logs)
    return {"SQLITE_BUSY": text.count("SQLITE_BUSY"), "KV PUT failed": text.count("KV PUT failed")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["processes", "single"], required=True)
    parser.add_argument("-n", type=int, default=500, help="operations per phase (default 500)")
    parser.add_argument("--ttl", action="store_true", help="also check TTL expiry (waits 62 s)")
    args = parser.parse_args(argv)
    setup: Callable[[Path], Any] = _processes if args.mode == "processes" else _single
    with tempfile.TemporaryDirectory(prefix="kvstack-probe-") as tmp:
        started = time.monotonic()
        with setup(Path(tmp)) as (url_a, url_b, explorer, logs):
            startup = round(time.monotonic() - started, 2)
            counts = _workload(url_a, url_b, explorer, args.n, args.ttl)
            log_errors = _log_errors(logs)
    report = {"mode": args.mode, "n": args.n, "startup_seconds": startup, **counts, "log": log_errors}
    print(json.dumps(report, indent=2))
    failures = [k for k, v in counts.items() if isinstance(v, int) and not k.endswith("_ops") and v]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
