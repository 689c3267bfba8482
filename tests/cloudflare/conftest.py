"""The Cloudflare adapter against a fake Cloudflare on loopback (tests/fakecloudflare.py).

Time is virtual (``VirtualClock``): waits are recorded, never slept, so nothing here depends on the wall clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from kvstack.cloudflare import ApiSettings, CloudflareApi, RateLimiter, connect
from tests.fakecloudflare import ACCOUNT, TOKEN, FakeCloudflare, VirtualClock

# The fake account's one namespace.
NS = "f" * 32


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare() as server:
        server.add_keys(NS, 0)
        yield server


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def adapter(fake: FakeCloudflare, clock: VirtualClock, **settings: object) -> CloudflareApi:
    """The adapter for the fake's own token, in virtual time, with ``settings`` (ApiSettings fields)."""
    limiter = RateLimiter(
        int(settings.pop("rate_limit", 1200)),  # type: ignore[call-overload]
        float(settings.pop("rate_window", 300.0)),  # type: ignore[arg-type]
        clock=clock.clock,
        sleep=clock.sleep,
    )
    return connect(
        TOKEN,
        ApiSettings(account_id=ACCOUNT, base_url=fake.base_url, **settings),  # type: ignore[arg-type]
        limiter=limiter,
        sleep=clock.sleep,
        clock=clock.clock,
        rng=random.Random(7),
    )
