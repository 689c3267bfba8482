"""One rate limit for every request of a run: a sliding window shared by all threads, paused by a 429."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_RATE_LIMIT", "DEFAULT_RATE_WINDOW", "RateLimiter"]

# Cloudflare's global API limit: 1,200 requests per 5 minutes per user or token.
DEFAULT_RATE_LIMIT: Final = 1200
DEFAULT_RATE_WINDOW: Final = 300.0


class RateLimiter:
    """At most ``limit`` requests in any ``window`` seconds, shared by every thread; a 429 pauses all.

    A sliding log of send times: a request waits until the oldest send in the window has aged out.
    ``clock`` and ``sleep`` are injectable so tests never wait on the wall clock.
    """

    def __init__(
        self,
        limit: int = DEFAULT_RATE_LIMIT,
        window: float = DEFAULT_RATE_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                wait = self._paused_until - now
                if len(self._sent) >= self.limit:
                    wait = max(wait, self._sent[0] + self.window - now)
                if wait <= 0:
                    self._sent.append(now)
                    self.waited += waited
                    return waited
            self.sleep(wait)
            waited += wait

    def pause(self, seconds: float) -> None:
        """Cloudflare said ``Retry-After: seconds``: nobody sends before then."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + seconds)
