"""The local Cloudflare, measured side by side in one run (ratios and request counts, not absolute times).

1. `kvstack local up --stack dev` until everything answers, against a bare `wrangler dev` of the same
   rendered apps (router + storage + apps, no API, no Pulumi apply) — goal ≤ 1.5×. Measured warm (the
   usual `up` after a `down`: state, namespaces and the last views are there, so wrangler starts at once)
   and cold (after `kvstack local reset --yes`: nothing is, so wrangler starts only once the stack is
   applied and rendered), each round side by side with a bare start.
2. Reading one value through the API against reading it from Miniflare's explorer directly (median).
3. Bulk get (100 keys a request) against single reads, through the API: keys per second and requests.

    python bench/local_bench.py [--keys 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cloudflare
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kvstack.catalog import load_catalog  # noqa: E402
from kvstack.local.runs import running_specs  # noqa: E402
from kvstack.local.runtime import start_runtime  # noqa: E402
from kvstack.local.views import deployed_view  # noqa: E402


def kvstack(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the kvstack CLI; a failure ends the benchmark, since every later figure would be wrong."""
    done = subprocess.run(
        [sys.executable, "-m", "kvstack", *args], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if check and done.returncode != 0:
        raise SystemExit(f"kvstack {' '.join(args)} failed with exit {done.returncode}:\n{done.stderr}")
    return done


def copy_project(target: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, target / name)
    for folder in ("keyspaces", "apps"):
        shutil.copytree(ROOT / folder, target / folder)
    return target


def time_local_up(root: Path) -> float:
    started = time.perf_counter()
    kvstack("local", "up", "--stack", "dev", "--root", str(root))
    return time.perf_counter() - started


def time_bare_wrangler(root: Path, scratch: Path) -> float:
    """The same rendered apps in one `wrangler dev`, as `local up` runs them, and nothing else."""
    catalog = load_catalog(root, "dev")
    tree = scratch / "tree"
    shutil.copytree(root / ".kvstack" / "local" / "tree", tree, dirs_exist_ok=True)
    specs = [deployed_view(spec) for spec in running_specs(catalog, tree)]
    started = time.perf_counter()
    runtime = start_runtime(specs, persist_to=scratch / "storage", log_dir=scratch / "logs", work_dir=scratch / "work")
    elapsed = time.perf_counter() - started
    runtime.stop()
    return elapsed


def median_ms(call: object, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def startup_rows(root: Path, scratch: Path, rounds: int) -> list[tuple[str, str]]:
    """Each round: a cold `local up` (after reset), a bare wrangler start, a warm `local up` (after down)."""
    colds, warms, bares = [], [], []
    for round_ in range(rounds):
        kvstack("local", "reset", "--yes", "--root", str(root))
        colds.append(time_local_up(root))
        kvstack("local", "down", "--root", str(root))
        bares.append(time_bare_wrangler(root, scratch / f"bare{round_}"))
        warms.append(time_local_up(root))
        if round_ < rounds - 1:
            kvstack("local", "down", "--root", str(root))
    cold, warm, bare = statistics.median(colds), statistics.median(warms), statistics.median(bares)
    # A round's runs follow each other within seconds, so their ratio is the least disturbed by
    # the load of a shared machine drifting between rounds.
    warm_ratios = [w / b for w, b in zip(warms, bares, strict=True)]
    cold_ratios = [c / b for c, b in zip(colds, bares, strict=True)]
    return [
        ("bare wrangler dev → ready (median s)", f"{bare:.2f}"),
        ("local up, warm → ready (median s)", f"{warm:.2f}"),
        ("local up, cold → ready (median s)", f"{cold:.2f}"),
        ("ratio warm local up / bare, of medians (goal ≤ 1.5)", f"{warm / bare:.2f}×"),
        ("ratio cold local up / bare, of medians (goal ≤ 1.5)", f"{cold / bare:.2f}×"),
        ("ratio warm / bare, median of rounds (range)", _ratio_summary(warm_ratios)),
        ("ratio cold / bare, median of rounds (range)", _ratio_summary(cold_ratios)),
        ("rounds (each: cold, bare, warm)", str(rounds)),
    ]


def _ratio_summary(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "project").mkdir()
        root = copy_project(Path(folder) / "project")
        try:
            rows += startup_rows(root, Path(folder), args.rounds)

            status = json.loads(kvstack("local", "status", "--json", "--root", str(root)).stdout)
            token = Path(status["token_file"]).read_text().strip()
            account = status["account_id"]
            runtime_url = next(p["url"] for p in status["processes"] if p["role"] == "runtime")
            sdk = cloudflare.Cloudflare(api_token=token, base_url=f"{status['api_url']}/client/v4", max_retries=0)
            namespace = sdk.kv.namespaces.create(account_id=account, title="bench-reads")
            assert namespace is not None
            keys = [f"bench:{i:05d}" for i in range(args.keys)]
            for start in range(0, len(keys), 1000):
                sdk.kv.namespaces.bulk_update(
                    namespace.id,
                    account_id=account,
                    body=[{"key": k, "value": json.dumps({"i": k})} for k in keys[start : start + 1000]],
                )
            value_path = f"storage/kv/namespaces/{namespace.id}/values/bench%3A00001"
            explorer = f"{runtime_url}/cdn-cgi/explorer/api/{value_path}"
            api_value = f"{status['api_url']}/client/v4/accounts/{account}/{value_path}"
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client() as client:
                direct = median_ms(lambda: client.get(explorer), 50)
                through = median_ms(lambda: client.get(api_value, headers=headers), 50)
            rows += [
                ("read one value: explorer directly (median ms)", f"{direct:.2f}"),
                ("read one value: through the API (median ms)", f"{through:.2f}"),
                ("ratio API / explorer", f"{through / direct:.2f}×"),
            ]

            started = time.perf_counter()
            for start in range(0, len(keys), 100):
                sdk.kv.namespaces.bulk_get(namespace.id, account_id=account, keys=keys[start : start + 100])
            bulk = time.perf_counter() - started
            sample = keys[:100]
            started = time.perf_counter()
            for key in sample:
                sdk.kv.namespaces.values.get(key, account_id=account, namespace_id=namespace.id)
            single = (time.perf_counter() - started) / len(sample) * len(keys)
            rows += [
                (
                    f"bulk get {len(keys)} keys: requests / keys per s",
                    f"{-(-len(keys) // 100)} / {len(keys) / bulk:.0f}",
                ),
                (
                    f"single reads {len(keys)} keys (extrapolated from 100): requests / keys per s",
                    f"{len(keys)} / {len(keys) / single:.0f}",
                ),
                ("bulk get speed-up", f"{single / bulk:.1f}×"),
            ]
        finally:
            kvstack("local", "down", "--root", str(root), check=False)
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
