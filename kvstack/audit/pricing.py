"""Workers KV's published free-tier limits and paid pricing: the one table the forecast compares against.

Figures as published on Cloudflare's pricing and limits pages (below), read on :data:`READ_ON`. When
Cloudflare changes them, change them here and the date with them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACTIONS",
    "FREE_DAILY",
    "FREE_STORAGE_BYTES",
    "LIMITS_PAGE",
    "PAID_BASE_USD",
    "PAID_INCLUDED_MONTHLY",
    "PAID_STORAGE_INCLUDED_BYTES",
    "PAID_STORAGE_USD_PER_GB_MONTH",
    "PAID_USD_PER_MILLION",
    "PRICING_PAGE",
    "READ_ON",
    "pricing_table",
]

PRICING_PAGE: Final = "https://developers.cloudflare.com/kv/platform/pricing/"
LIMITS_PAGE: Final = "https://developers.cloudflare.com/kv/platform/limits/"
READ_ON: Final = "2026-11-30"

# The action types of the GraphQL dataset kvOperationsAdaptiveGroups, in the order reports show them.
ACTIONS: Final = ("read", "write", "delete", "list")

# Free plan: per account and per day, reset at 00:00 UTC.
FREE_DAILY: Final[dict[str, int]] = {"read": 100_000, "write": 1_000, "delete": 1_000, "list": 1_000}
FREE_STORAGE_BYTES: Final = 1_000_000_000

# Workers Paid ($5 a month): monthly inclusions, then a price per additional million operations.
PAID_BASE_USD: Final = 5.00
PAID_INCLUDED_MONTHLY: Final[dict[str, int]] = {
    "read": 10_000_000,
    "write": 1_000_000,
    "delete": 1_000_000,
    "list": 1_000_000,
}
PAID_USD_PER_MILLION: Final[dict[str, float]] = {"read": 0.50, "write": 5.00, "delete": 5.00, "list": 5.00}
PAID_STORAGE_INCLUDED_BYTES: Final = 1_000_000_000
PAID_STORAGE_USD_PER_GB_MONTH: Final = 0.50


def pricing_table() -> dict[str, object]:
    """The table as the report carries it, with its sources and the date they were read."""
    return {
        "sources": [PRICING_PAGE, LIMITS_PAGE],
        "read_on": READ_ON,
        "free_daily": dict(FREE_DAILY),
        "free_storage_bytes": FREE_STORAGE_BYTES,
        "paid_base_usd": PAID_BASE_USD,
        "paid_included_monthly": dict(PAID_INCLUDED_MONTHLY),
        "paid_usd_per_million": dict(PAID_USD_PER_MILLION),
        "paid_storage_included_bytes": PAID_STORAGE_INCLUDED_BYTES,
        "paid_storage_usd_per_gb_month": PAID_STORAGE_USD_PER_GB_MONTH,
    }
