"""TTL policy: a listed key's expiration against its pattern's rule, and a freshly written TTL's bounds."""

from __future__ import annotations

from kvstack.keyspace.findings import Finding
from kvstack.keyspace.model import Pattern, TtlPolicy

__all__ = ["DEFAULT_CLOCK_TOLERANCE", "check_expiration", "check_fresh_ttl"]

# Seconds a remaining TTL may exceed the maximum: the checker's clock and Cloudflare's are not the same clock.
DEFAULT_CLOCK_TOLERANCE = 30


def check_expiration(
    pattern: Pattern, key: str, expiration: float | None, now: float, tolerance: float = DEFAULT_CLOCK_TOLERANCE
) -> Finding | None:
    """A finding if ``expiration`` (unix seconds, None = never) breaks the pattern's TTL policy at ``now``.

    Only the maximum is checked: a listed key's remaining TTL shrinks with time, so it can rightly be
    below the minimum a write must use (see :func:`check_fresh_ttl`).
    """
    policy = pattern.ttl
    if expiration is None:
        if policy.policy == "required":
            return Finding(
                "missing-ttl", key, pattern.name, f"expected {policy.describe()}; found a key that never expires"
            )
        return None
    remaining = int(expiration - now)
    if policy.policy == "forbidden":
        return Finding("unexpected-ttl", key, pattern.name, f"expected no TTL; found one expiring in {remaining} s")
    if policy.max is not None and remaining > policy.max + tolerance:
        return Finding(
            "ttl-too-long",
            key,
            pattern.name,
            f"expected a TTL of at most {policy.max} s; found one expiring in {remaining} s",
        )
    return None


def check_fresh_ttl(
    policy: TtlPolicy, remaining: float | None, tolerance: float = DEFAULT_CLOCK_TOLERANCE
) -> str | None:
    """For a key written moments ago: why its remaining TTL breaks ``policy``, or None if it does not."""
    if remaining is None:
        return f"expected {policy.describe()}; found no TTL" if policy.policy == "required" else None
    if policy.policy == "forbidden":
        return f"expected no TTL; found {int(remaining)} s"
    if policy.max is not None and remaining > policy.max + tolerance:
        return f"expected a TTL of at most {policy.max} s; found {int(remaining)} s"
    if policy.min is not None and remaining < policy.min - tolerance:
        return f"expected a TTL of at least {policy.min} s; found {int(remaining)} s"
    return None
