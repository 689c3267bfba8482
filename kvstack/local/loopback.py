"""HTTP between kvstack and the local Cloudflare's own processes, all on 127.0.0.1.

Plain HTTP on loopback needs no TLS and no proxy. httpx's default client loads the CA bundle each time
one is created (about 40 ms of CPU), which every readiness poll would pay while wrangler and the Pulumi
import compete for the same cores; and a proxy from the environment must never see loopback traffic.

httpx itself is imported on first use: `kvstack local up` starts wrangler before it needs HTTP, and
the import (0.09 s) would otherwise delay that start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = ["answer", "loopback_client"]


def loopback_client(*, timeout: float = 5.0) -> httpx.Client:
    """A client for ``http://127.0.0.1:…`` URLs: no CA bundle, no proxies from the environment."""
    import httpx

    return httpx.Client(timeout=timeout, verify=False, trust_env=False)


def answer(client: httpx.Client, url: str) -> httpx.Response | Exception:
    """``GET url``: the response, whatever its status, or the error when nothing answered (yet)."""
    import httpx

    try:
        return client.get(url)
    except httpx.HTTPError as error:
        return error
