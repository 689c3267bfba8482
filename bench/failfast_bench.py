"""How fast `kvstack check` gives up on an API it cannot use, and how many requests it spends doing so.

    python bench/failfast_bench.py [--timeout SECONDS]

Runs the real `kvstack check --stack dev` (every check the dev stack declares, its outputs from `kvstack
plan --json`) in a temporary copy of the project against four APIs on loopback (tests/cloudflare/failing_apis.py),
each with the defaults unless ``--timeout`` is given, and prints for each: wall time, exit code, the requests
kvstack spent (its JSON report) and the requests or connections the server saw, and the closing error.

1. unreachable: a port nothing listens on (connection refused);
2. refusing: every request answered 401 with Cloudflare's code 10000;
3. silent: connections accepted, never answered;
4. failing: every request answered 503 (retried with backoff until the run's deadline; run with --timeout 10).

Goal (issue 10): exit 2 within 30 s for 1–3 with the defaults, naming the URL and the token variable; before
fail-fast an unreachable API cost ~30 s per check. The wall time includes starting Python and loading
kvstack (the `startup` line: `kvstack --help`). Not a test: seconds depend on the machine and its load; the
request counts do not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cloudflare.failing_apis import ErrorApi, SilentApi, unused_port_url  # noqa: E402


@contextmanager
def unreachable() -> Iterator[tuple[str, Callable[[], int | None]]]:
    yield unused_port_url(), lambda: None


@contextmanager
def refusing() -> Iterator[tuple[str, Callable[[], int | None]]]:
    with ErrorApi(401, 10000) as api:
        yield api.base_url, lambda: len(api.requests)


@contextmanager
def silent() -> Iterator[tuple[str, Callable[[], int | None]]]:
    with SilentApi() as api:
        yield api.base_url, lambda: api.connections


@contextmanager
def failing() -> Iterator[tuple[str, Callable[[], int | None]]]:
    with ErrorApi(503, 7000, "Service unavailable", max_requests=10_000, lifetime=900) as api:
        yield api.base_url, lambda: len(api.requests)


def project(folder: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, folder / name)
    for name in ("keyspaces", "apps"):
        shutil.copytree(ROOT / name, folder / name)
    plan = subprocess.run(
        [sys.executable, "-m", "kvstack", "plan", "--stack", "dev", "--json", "--root", str(folder)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (folder / "outputs.json").write_text(plan.stdout)
    return folder


def _environment(api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KVSTACK_", "CLOUDFLARE_"))}
    return env | {"CLOUDFLARE_API_TOKEN": "bench-token-not-a-secret", "KVSTACK_API_URL": api_url}


def run_check(root: Path, api_url: str, timeout: float | None) -> dict[str, Any]:
    report = root / "reports" / "check-dev.json"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "kvstack", "check", "--stack", "dev", "--root", str(root),
               "--outputs", str(root / "outputs.json")]  # fmt: skip
    if timeout is not None:
        command += ["--timeout", str(timeout)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=_environment(api_url), check=False)
    seconds = time.perf_counter() - started
    error = result.stderr[result.stderr.rfind("error:") :].splitlines()[0] if "error:" in result.stderr else ""
    document = json.loads(report.read_text()) if report.is_file() else {}
    coverage = document.get("coverage", [])
    return {
        "seconds": seconds,
        "exit": result.returncode,
        "spent": document.get("spent", {}).get("api_requests"),
        "checks": sum(row["declared"] for row in coverage),
        "ran": document.get("summary", {}).get("total"),
        "error": error[:200],
    }


def startup_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kvstack", "--help"], capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=None, help="--timeout for kvstack check [default: its own]")
    parser.add_argument("--failing-timeout", type=float, default=10.0, help="--timeout of the 503 run")
    args = parser.parse_args()
    print(f"startup      {startup_seconds():6.2f} s  (kvstack --help)")
    with tempfile.TemporaryDirectory(prefix="kvstack-failfast-") as tmp:
        root = project(Path(tmp))
        runs = (
            ("unreachable", unreachable, args.timeout),
            ("refusing", refusing, args.timeout),
            ("silent", silent, args.timeout),
            ("failing", failing, args.failing_timeout),
        )
        for name, api, timeout in runs:
            with api() as (url, seen):
                outcome = run_check(root, url, timeout)
                served = seen()
            shown = "default" if timeout is None else f"{timeout:g} s"
            print(
                f"{name:12} {outcome['seconds']:6.2f} s  exit {outcome['exit']}  --timeout {shown:8} "
                f"checks run {outcome['ran']}/{outcome['checks']}  requests spent {outcome['spent']}"
                f"  seen by the server {'-' if served is None else served}\n             {outcome['error']}"
            )


if __name__ == "__main__":
    main()
