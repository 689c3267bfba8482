"""RateLimiter: a burst spread over the window, a pause that holds every caller."""

from __future__ import annotations

import pytest

from kvstack.cloudflare import RateLimiter
from tests.fakecloudflare import VirtualClock


def test_a_pause_delays_the_next_request_of_any_caller(clock: VirtualClock) -> None:
    limiter = RateLimiter(100, 300, clock=clock.clock, sleep=clock.sleep)
    limiter.pause(30)
    assert limiter.acquire() == pytest.approx(30.0)
    limiter.pause(10)
    limiter.pause(5)
    assert limiter.acquire() == pytest.approx(10.0), "the longer pause wins"
    assert limiter.acquire() == 0.0


def test_rate_limiter_spreads_a_burst_over_the_window(clock: VirtualClock) -> None:
    limiter = RateLimiter(3, 10.0, clock=clock.clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(7)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(10.0)
    assert clock.now == pytest.approx(1020.0), "7 requests at 3 per 10 s need two full windows"
