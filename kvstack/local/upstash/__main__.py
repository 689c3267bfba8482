"""`python -m kvstack.local.upstash`: the Upstash REST front as its own process (started by `kvstack local up`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from kvstack.local.api.knobs import Faults, parse_faults
from kvstack.local.upstash.rest import FrontKnobs, asgi_front
from kvstack.local.upstash.server import ensure_tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kvstack.local.upstash", description=__doc__)
    parser.add_argument("--state", type=Path, required=True, help="the local Upstash folder (tokens, users, data)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-port", type=int, required=True, help="where the valkey-server listens")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--faults", default=None, help='e.g. "429=0.1,500=0.05,drop=0.02"')
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        knobs = FrontKnobs(latency_ms=args.latency_ms, faults=Faults(parse_faults(args.faults), args.seed))
    except ValueError as exc:
        parser.error(str(exc))
    tokens = ensure_tokens(args.state)
    print(f"kvstack local Upstash REST on http://127.0.0.1:{args.port}", flush=True)
    uvicorn.run(
        asgi_front(args.redis_port, tokens.users(), knobs),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
