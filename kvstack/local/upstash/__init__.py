"""The local Upstash Redis: a real valkey-server from a wheel behind the Upstash REST protocol.

start_upstash(folder, logs, latency_ms=…, faults=…, seed=…) → UpstashEndpoint(rest_url, tokens, processes)

``server.py`` owns the server process, its ACL users and the two REST tokens; ``rest.py`` the REST
protocol (single commands, ``/pipeline``, ``/multi-exec``, bearer auth, base64 encoding, knobs);
``resp.py`` the RESP2 wire format between them; ``launch.py`` starts both for `kvstack local up`.
"""

from kvstack.local.upstash.launch import PROCESS_MARKERS, UpstashEndpoint, start_upstash
from kvstack.local.upstash.server import READ_ONLY_USER, READ_WRITE_USER, Tokens, ensure_tokens, upstash_dir

__all__ = [
    "PROCESS_MARKERS",
    "READ_ONLY_USER",
    "READ_WRITE_USER",
    "Tokens",
    "UpstashEndpoint",
    "ensure_tokens",
    "start_upstash",
    "upstash_dir",
]
