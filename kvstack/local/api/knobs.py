"""The local Cloudflare's knobs: latency, seeded faults, a rate limit, eventual consistency, a request log."""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Faults", "Knobs", "RateLimit", "RequestLog", "Visibility", "parse_faults", "parse_rate_limit"]

FAULT_KINDS = ("429", "500", "drop")


def parse_faults(spec: str | None) -> dict[str, float]:
    """``"429=0.1,500=0.05,drop=0.02"`` → shares per fault kind (each 0–1, summing to at most 1)."""
    shares = dict.fromkeys(FAULT_KINDS, 0.0)
    for part in filter(None, (spec or "").split(",")):
        kind, _, share = part.partition("=")
        kind = kind.strip()
        if kind not in shares:
            raise ValueError(f"unknown fault {kind!r}; use {', '.join(FAULT_KINDS)}")
        try:
            shares[kind] = float(share)
        except ValueError:
            raise ValueError(f"fault share {share!r} of {kind} is not a number") from None
        if not 0 <= shares[kind] <= 1:
            raise ValueError(f"fault share of {kind} must be between 0 and 1")
    if sum(shares.values()) > 1:
        raise ValueError("fault shares add up to more than 1")
    return shares


def parse_rate_limit(spec: str | None) -> tuple[int, float]:
    """``"1200/300"`` → (1200 requests, 300 seconds)."""
    count, _, seconds = (spec or "1200/300").partition("/")
    try:
        limit, window = int(count), float(seconds or 300)
    except ValueError:
        raise ValueError(f"rate limit {spec!r} is not N/SECONDS") from None
    if limit < 1 or window <= 0:
        raise ValueError("rate limit needs N >= 1 and SECONDS > 0")
    return limit, window


@dataclass
class Faults:
    """Seeded fault draws: the same seed gives the same sequence of faults."""

    shares: dict[str, float]
    seed: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def draw(self) -> str | None:
        roll = self.rng.random()
        for kind in FAULT_KINDS:
            share = self.shares.get(kind, 0.0)
            if roll < share:
                return kind
            roll -= share
        return None


@dataclass
class RateLimit:
    """A sliding window per token, like Cloudflare's 1,200 requests per 5 minutes per user."""

    limit: int
    window: float
    seen: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, token_id: str, now: float | None = None) -> int | None:
        """None if the request may go; else the seconds to wait (the Retry-After value)."""
        now = time.monotonic() if now is None else now
        times = self.seen.setdefault(token_id, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return max(1, math.ceil(times[0] + self.window - now))
        times.append(now)
        return None


@dataclass
class Visibility:
    """Writes reach key listings only after ``delay`` seconds (KV is eventually consistent)."""

    delay: float = 0.0
    pending: dict[tuple[str, str], float] = field(default_factory=dict)

    def written(self, namespace: str, key: str) -> None:
        if self.delay > 0:
            self.pending[(namespace, key)] = time.monotonic() + self.delay

    def visible(self, namespace: str, key: str) -> bool:
        until = self.pending.get((namespace, key))
        if until is None:
            return True
        if until <= time.monotonic():
            del self.pending[(namespace, key)]
            return True
        return False


@dataclass
class RequestLog:
    """The last requests: method, route, status, token id (never the token value)."""

    limit: int = 100_000
    entries: deque[dict[str, Any]] = field(default_factory=deque)

    def add(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        while len(self.entries) > self.limit:
            self.entries.popleft()


@dataclass
class Knobs:
    latency_ms: int = 0
    faults: Faults = field(default_factory=lambda: Faults(parse_faults(None)))
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(*parse_rate_limit(None)))
    visibility: Visibility = field(default_factory=Visibility)

    def describe(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "faults": dict(self.faults.shares),
            "seed": self.faults.seed,
            "rate_limit": f"{self.rate_limit.limit}/{self.rate_limit.window:g}",
            "consistency_delay": self.visibility.delay,
        }

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``{latency_ms?, faults?, seed?, rate_limit?, consistency_delay?}`` (admin route, tests)."""
        if "latency_ms" in changes:
            self.latency_ms = int(changes["latency_ms"])
        if "faults" in changes or "seed" in changes:
            shares = parse_faults(changes["faults"]) if "faults" in changes else self.faults.shares
            self.faults = Faults(shares, int(changes.get("seed", self.faults.seed)))
        if "rate_limit" in changes:
            self.rate_limit = RateLimit(*parse_rate_limit(changes["rate_limit"]))
        if "consistency_delay" in changes:
            self.visibility.delay = float(changes["consistency_delay"])
