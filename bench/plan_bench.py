"""How `kvstack plan` scales: generated catalogs of 10 to 160 apps × 3 bindings.

    python bench/plan_bench.py [--sizes 10 40 80 160] [--repeat 3]

160 apps is the largest size one account holds: 3 bindings and their preview twins are 960 namespaces of
the 1,000 Cloudflare allows per account (`kvstack validate` refuses more, so 200 apps cannot be planned).

Each size runs in a fresh interpreter that first plans a one-app catalog (so imports are paid
before the clock starts), then times ``kvstack.plan.plan`` ``--repeat`` times and keeps the best.
Also times the whole ``kvstack plan --json`` command once, cold. Prints time per Cloudflare
resource, its ratio to the smallest size (goal: ≤ 1.3 at the largest size) and the peak RSS; then the marginal
cost per resource, the slope of a least-squares line through (resources, time) over every size, and its
intercept (the fixed cost the per-resource ratio divides in at the small sizes).
Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

BINDINGS = ("CACHE_KV", "SESSION_KV", "DATA_KV")
KINDS = ("pages", "worker", "rest")
ACCOUNT = "0123456789abcdef0123456789abcdef"


def write_catalog(root: Path, apps: int) -> None:
    """Pulumi.yaml and Pulumi.dev.yaml with ``apps`` apps (pages, worker, rest in turn) × 3 bindings."""
    catalog_apps: dict[str, Any] = {}
    stack_apps: dict[str, Any] = {}
    tokens: dict[str, Any] = {
        "deploy": {
            "role": "deploy",
            "permissions": ["Workers Scripts Write", "Workers KV Storage Write", "Pages Write"],
        },
        "audit": {"role": "audit", "permissions": ["Workers KV Storage Read", "Pages Read"]},
    }
    for index in range(apps):
        name = f"app-{index:04d}"
        kind = KINDS[index % len(KINDS)]
        spec: dict[str, Any] = {"kind": kind, "bindings": {b: {} for b in BINDINGS}}
        if kind == "rest":
            spec["env_file"] = f"apps/{name}/.env"
            tokens[f"{name}-runtime"] = {"role": "runtime", "app": name, "permissions": ["Workers KV Storage Write"]}
        else:
            spec["wrangler"] = {"path": f"apps/{name}/wrangler.toml", "format": "toml"}
        catalog_apps[name] = spec
        stack_apps[name] = {"url": f"https://{name}.example"}
    project = {
        "name": "kvstack-bench",
        "runtime": {"name": "python"},
        "main": "infra/",
        "config": {"kvstack:catalog": {"value": {"apps": catalog_apps, "tokens": tokens}}},
    }
    stack = {
        "config": {
            "kvstack:environment": "dev",
            "kvstack:account_id": ACCOUNT,
            "kvstack:token_expiry": "2099-01-01T00:00:00Z",
            "kvstack:apps": stack_apps,
        }
    }
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (root / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))


def child(root: Path, warm_root: Path, repeat: int) -> None:
    """In a fresh interpreter: warm up, then time the plan and report JSON on stdout."""
    from kvstack.plan import plan

    plan(warm_root, "dev")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = plan(root, "dev")
        times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "best": min(times),
                "custom": len(result.custom_resources()),
                "total": len(result.resources),
                "peak_mib": peak_kib / 1024,
            }
        )
    )


def measure(apps: int, repeat: int, workdir: Path) -> dict[str, Any]:
    root = workdir / f"apps-{apps}"
    warm = workdir / "warm"
    for folder, count in ((root, apps), (warm, 1)):
        folder.mkdir(exist_ok=True)
        write_catalog(folder, count)
    start = time.perf_counter()
    cli = subprocess.run(
        [sys.executable, "-m", "kvstack", "plan", "--stack", "dev", "--json", "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    cold = time.perf_counter() - start
    if cli.returncode != 0:
        raise SystemExit(f"kvstack plan failed for {apps} apps:\n{cli.stderr}")
    measured = subprocess.run(
        [sys.executable, __file__, "--child", str(root), str(warm), str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    )
    numbers: dict[str, Any] = json.loads(measured.stdout.strip().splitlines()[-1])
    return {"apps": apps, "bindings": apps * len(BINDINGS), "cold": cold, **numbers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 40, 80, 160])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("ROOT", "WARM_ROOT", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
        return
    with tempfile.TemporaryDirectory(prefix="kvstack-plan-bench-") as tmp:
        rows = [measure(apps, args.repeat, Path(tmp)) for apps in args.sizes]
    base = rows[0]["best"] / rows[0]["custom"]
    header = (
        "apps",
        "bindings",
        "CF resources",
        "all resources",
        "plan (warm)",
        "ms / CF resource",
        "ratio",
        "CLI (cold)",
        "peak RSS",
    )
    lines = [header]
    for row in rows:
        per = row["best"] / row["custom"]
        lines.append(
            (
                str(row["apps"]),
                str(row["bindings"]),
                str(row["custom"]),
                str(row["total"]),
                f"{row['best']:.2f} s",
                f"{per * 1000:.2f}",
                f"{per / base:.2f}×",
                f"{row['cold']:.2f} s",
                f"{row['peak_mib']:.0f} MiB",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
    print(marginal_cost(rows))


def marginal_cost(rows: list[dict[str, Any]]) -> str:
    """The slope and intercept of the least-squares line of warm plan time over CF resources."""
    if len({row["custom"] for row in rows}) < 2:
        return "marginal cost per CF resource: needs two sizes or more (--sizes)"
    fit = statistics.linear_regression([row["custom"] for row in rows], [row["best"] for row in rows])
    sizes = ", ".join(str(row["custom"]) for row in rows)
    return (
        f"marginal cost per CF resource: {fit.slope * 1000:.2f} ms (least-squares slope over {sizes} resources); "
        f"fixed cost: {fit.intercept * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
