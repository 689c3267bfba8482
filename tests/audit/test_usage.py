"""The forecast: a least-squares line over the window, compared with the free tier and priced."""

from __future__ import annotations

import pytest

from kvstack.audit import pricing
from kvstack.audit.usage import UsageReport, fit_line, forecast, unexplained_reads

DAYS = [f"2026-11-{d:02d}" for d in range(24, 31)]


def _report(writes: list[int], reads: list[int] | None = None) -> UsageReport:
    zero = [0] * len(DAYS)
    series = {"read": reads or zero, "write": writes, "delete": zero, "list": zero}
    return UsageReport(DAYS, {"a" * 32: series}, {})


def test_fit_line_is_exact_on_a_line_and_flat_on_one_point() -> None:
    assert fit_line([1, 3, 5, 7]) == pytest.approx((2.0, 1.0))
    assert fit_line([4]) == (0.0, 4.0)


def test_rising_writes_reach_the_free_tier_in_the_days_the_line_says() -> None:
    forecasts, _ = forecast(_report([100, 200, 300, 400, 500, 600, 700]))
    writes = forecasts["write"]
    # 100 more each day: day 8 of the window is 800, 900, then 1,000 on the third forecast day.
    assert writes.crosses_in_days == 3
    assert writes.sentence() == "writes reach the free tier's 1,000/day in 3 days"
    assert forecasts["read"].crosses_in_days is None


def test_a_day_already_over_the_limit_says_so() -> None:
    forecasts, _ = forecast(_report([0, 0, 0, 0, 0, 0, 1200]))
    assert forecasts["write"].crosses_in_days == 0
    assert "already" in forecasts["write"].sentence()


def test_falling_usage_never_projects_below_zero() -> None:
    forecasts, _ = forecast(_report([700, 600, 500, 400, 300, 200, 100]))
    assert min(forecasts["write"].projected) == 0.0


def test_projected_monthly_cost_is_the_base_plus_what_exceeds_the_inclusions() -> None:
    flat_reads = [20_000_000 // 30] * len(DAYS)  # ~20 million a month: 10 million above the inclusion
    forecasts, cost = forecast(_report([0] * len(DAYS), reads=flat_reads))
    over = forecasts["read"].projected_30d - pricing.PAID_INCLUDED_MONTHLY["read"]
    assert cost == pytest.approx(pricing.PAID_BASE_USD + over / 1e6 * pricing.PAID_USD_PER_MILLION["read"])
    assert cost - pricing.PAID_BASE_USD == pytest.approx(5.0, abs=0.01)  # ~10 million reads over, $0.50 each


def test_the_pricing_table_names_its_sources_and_the_date_read() -> None:
    table = pricing.pricing_table()
    assert table["sources"] == [pricing.PRICING_PAGE, pricing.LIMITS_PAGE]
    assert table["read_on"] == pricing.READ_ON
    assert table["free_daily"] == {"read": 100_000, "write": 1_000, "delete": 1_000, "list": 1_000}


def test_reads_beyond_what_key_scans_explain_are_unexplained() -> None:
    def totals(read: int, listed: int) -> dict[str, int]:
        return {"read": read, "write": 0, "delete": 0, "list": listed}

    # Two scans of 3 keys: 2 lists and up to 6 reads are theirs.
    assert unexplained_reads(totals(6, 2), 3) == 0
    assert unexplained_reads(totals(156, 2), 3) == 150
    # 2,500 keys take 3 list pages a scan: 6 lists are 2 scans, 5,000 reads.
    assert unexplained_reads(totals(5_000, 6), 2_500) == 0
    assert unexplained_reads(totals(5_001, 6), 2_500) == 1
    # Reads with no listing at all: nothing explains them.
    assert unexplained_reads(totals(4, 0), 3) == 4
