"""`python -m kvstack.local.api`: the local Cloudflare API as its own process (started by `kvstack local up`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from kvstack.local.api.app import asgi_app, server_config
from kvstack.local.api.context import Settings
from kvstack.local.api.knobs import Faults, Knobs, RateLimit, Visibility, parse_faults, parse_rate_limit
from kvstack.names import ACCOUNT_ID_RE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kvstack.local.api", description=__doc__)
    parser.add_argument("--state", type=Path, required=True, help="folder of the API's own state")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--storage-url", required=True, help="where Miniflare's explorer API answers")
    parser.add_argument("--account-id", required=True)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--faults", default=None, help='e.g. "429=0.1,500=0.05,drop=0.02"')
    parser.add_argument("--rate-limit", default="1200/300", help="N/SECONDS per token")
    parser.add_argument("--consistency-delay", type=float, default=0.0, help="seconds before writes are listed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not ACCOUNT_ID_RE.fullmatch(args.account_id):
        parser.error("--account-id must be 32 lowercase hex characters")
    try:
        knobs = Knobs(
            latency_ms=args.latency_ms,
            faults=Faults(parse_faults(args.faults), args.seed),
            rate_limit=RateLimit(*parse_rate_limit(args.rate_limit)),
            visibility=Visibility(args.consistency_delay),
        )
    except ValueError as exc:
        parser.error(str(exc))
    settings = Settings(state=args.state, account_id=args.account_id, storage_url=args.storage_url.rstrip("/"))
    app = asgi_app(settings, knobs)
    print(f"kvstack local API on http://127.0.0.1:{args.port}/client/v4", flush=True)
    uvicorn.Server(server_config(app, args.port)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
