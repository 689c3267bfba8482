"""Usage and cost: operations and storage per namespace and day from the GraphQL Analytics API, and a forecast.

The data is what Cloudflare's dashboard reads: ``kvOperationsAdaptiveGroups`` (``sum { requests }`` by
namespaceId, actionType, date) and ``kvStorageAdaptiveGroups`` (``max { keyCount byteCount }`` by
namespaceId, date), one query for the window, ``POST /client/v4/graphql``.

The forecast model, stated: per action type, the account's daily totals over the window (days without
data count as 0) fitted with a least-squares line; the line, never below 0, is the forecast for each of
the next :data:`FORECAST_DAYS` days. It is compared with the free tier's daily limits and priced with
the paid plan (:mod:`kvstack.audit.pricing`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import cloudflare
import httpx

from kvstack.audit import pricing
from kvstack.audit.findings import AuditFinding
from kvstack.cloudflare import CloudflareApi
from kvstack.errors import AuthenticationError, CloudflareError
from kvstack.keyspace.limits import LIST_KEYS_MAX

__all__ = [
    "FORECAST_DAYS",
    "USAGE_QUERY",
    "Forecast",
    "UsageReport",
    "fit_line",
    "forecast",
    "read_usage",
    "unexplained_reads",
]

FORECAST_DAYS: Final = 30
# One query; Cloudflare's schema calls its string scalar `string`.
USAGE_QUERY: Final = """
query KvstackAuditUsage($accountTag: string!, $start: Date!, $end: Date!) {
  viewer {
    accounts(filter: {accountTag: $accountTag}) {
      operations: kvOperationsAdaptiveGroups(
        filter: {date_geq: $start, date_leq: $end}, limit: 10000, orderBy: [date_ASC]
      ) {
        sum { requests }
        dimensions { namespaceId actionType date }
      }
      storage: kvStorageAdaptiveGroups(
        filter: {date_geq: $start, date_leq: $end}, limit: 10000, orderBy: [date_ASC]
      ) {
        max { keyCount byteCount }
        dimensions { namespaceId date }
      }
    }
  }
}
"""


@dataclass(frozen=True)
class Forecast:
    """One action type's trend and what it means against the free tier and the paid price."""

    action: str
    daily: list[int]
    slope: float
    intercept: float
    projected: list[float]
    free_limit: int
    crosses_in_days: int | None  # first forecast day at or over the free limit; 0 = already over
    projected_30d: float
    projected_cost_usd: float

    def sentence(self) -> str:
        limit = f"{self.free_limit:,}/day"
        if self.crosses_in_days is None:
            return f"{self.action}s stay under the free tier's {limit} for the next {FORECAST_DAYS} days"
        if self.crosses_in_days == 0:
            return f"{self.action}s are already at or over the free tier's {limit}"
        return f"{self.action}s reach the free tier's {limit} in {self.crosses_in_days} days"

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "daily": list(self.daily),
            "slope_per_day": round(self.slope, 3),
            "intercept": round(self.intercept, 3),
            "projected": [round(v, 1) for v in self.projected],
            "free_daily_limit": self.free_limit,
            "crosses_free_tier_in_days": self.crosses_in_days,
            "projected_30d": round(self.projected_30d, 1),
            "projected_cost_usd": round(self.projected_cost_usd, 4),
            "summary": self.sentence(),
        }


@dataclass
class UsageReport:
    """Operations and storage per namespace and day over the window, and the account's forecast."""

    days: list[str]
    operations: dict[str, dict[str, list[int]]]  # namespace id -> action -> per day
    storage: dict[str, dict[str, list[int | None]]]  # namespace id -> keyCount/byteCount -> per day
    forecasts: dict[str, Forecast] = field(default_factory=dict)
    monthly_cost_usd: float = 0.0

    def totals(self, namespace_id: str) -> dict[str, int]:
        series = self.operations.get(namespace_id, {})
        return {action: sum(series.get(action, [])) for action in pricing.ACTIONS}

    def findings(self, records: Sequence[Any], statistics: Mapping[str, Any], declared: set[str]) -> list[AuditFinding]:
        found = []
        for fc in self.forecasts.values():
            if fc.crosses_in_days is not None:
                found.append(
                    AuditFinding(
                        "free-tier-forecast",
                        f"account {fc.action}s",
                        f"{fc.sentence()} (trend {fc.slope:+.1f}/day over {len(self.days)} days; "
                        f"projected monthly cost on Workers Paid ${self.monthly_cost_usd:.2f})",
                        details={"action": fc.action, "crosses_in_days": fc.crosses_in_days},
                    )
                )
        for record in records:
            if record.id is None or record.classification == "missing":
                continue
            totals = self.totals(record.id)
            stats = statistics.get(record.id)
            reads = unexplained_reads(totals, stats.keys if stats is not None else 0)
            if record.id not in declared and (reads or totals["write"] or totals["delete"]):
                found.append(
                    AuditFinding(
                        "unexplained-operations",
                        record.title,
                        f"{reads} reads beyond what key scans explain, {totals['write']} writes and "
                        f"{totals['delete']} deletes in the last {len(self.days)} days on namespace {record.id}, "
                        "which no app of the catalog binds",
                        record.id,
                        {"operations": totals, "unexplained_reads": reads},
                    )
                )
            if stats is not None and stats.keys == 0 and not (totals["read"] or totals["write"] or totals["delete"]):
                found.append(
                    AuditFinding(
                        "empty",
                        record.title,
                        f"namespace {record.id} holds no keys and had no reads, writes or deletes "
                        f"for {len(self.days)} days",
                        record.id,
                        {"days": len(self.days)},
                    )
                )
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "days": list(self.days),
            "operations": self.operations,
            "storage": self.storage,
            "forecast_model": (
                f"least-squares line over the account's daily totals of the last {len(self.days)} days, "
                f"projected {FORECAST_DAYS} days, never below 0"
            ),
            "forecast": {action: fc.to_json() for action, fc in self.forecasts.items()},
            "projected_monthly_cost_usd": round(self.monthly_cost_usd, 4),
            "pricing": pricing.pricing_table(),
        }


def unexplained_reads(totals: Mapping[str, int], keys: int) -> int:
    """Reads no key scan explains: a scan (``kvstack audit``, ``kvstack check``) lists every key, in
    max(1, ⌈keys/1000⌉) list requests, and then reads each key at most once, so the window's lists allow
    at most (lists ÷ pages per scan) × keys reads; anything beyond was read by something else."""
    pages = max(1, -(-keys // LIST_KEYS_MAX))
    return max(0, totals["read"] - totals["list"] // pages * keys)


def read_usage(api: CloudflareApi, namespaces: Iterable[Any], days: int, today: date | None = None) -> UsageReport:
    """Query the window ending ``today`` (UTC) and build the per-day series and the forecast."""
    end = today or datetime.now(UTC).date()
    window = [(end - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    data = graphql(
        api,
        USAGE_QUERY,
        {"accountTag": api.account_id, "start": window[0], "end": window[-1]},
    )
    accounts = ((data.get("viewer") or {}).get("accounts")) or []
    account = accounts[0] if accounts else {}
    index = {day: i for i, day in enumerate(window)}
    operations: dict[str, dict[str, list[int]]] = defaultdict(lambda: {a: [0] * days for a in pricing.ACTIONS})
    for group in account.get("operations") or []:
        dims = group.get("dimensions") or {}
        day, action = dims.get("date"), dims.get("actionType")
        if day in index and action in pricing.ACTIONS:
            operations[str(dims.get("namespaceId"))][action][index[day]] += int((group.get("sum") or {})["requests"])
    storage: dict[str, dict[str, list[int | None]]] = defaultdict(
        lambda: {"keyCount": [None] * days, "byteCount": [None] * days}
    )
    for group in account.get("storage") or []:
        dims = group.get("dimensions") or {}
        if dims.get("date") in index:
            peak = group.get("max") or {}
            series = storage[str(dims.get("namespaceId"))]
            series["keyCount"][index[dims["date"]]] = int(peak.get("keyCount") or 0)
            series["byteCount"][index[dims["date"]]] = int(peak.get("byteCount") or 0)
    for namespace in namespaces:
        operations[namespace.id]  # every scanned namespace has a (possibly all-zero) series
    report = UsageReport(window, dict(operations), dict(storage))
    report.forecasts, report.monthly_cost_usd = forecast(report)
    return report


def graphql(api: CloudflareApi, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """POST a query to ``/graphql``; its ``data``, or a CloudflareError carrying the GraphQL errors."""
    what = "GraphQL analytics query"
    try:
        response = api.sdk.post("/graphql", body={"query": query, "variables": dict(variables)}, cast_to=httpx.Response)
    except cloudflare.APIStatusError as exc:
        error = AuthenticationError if exc.status_code in (401, 403) else CloudflareError
        raise error(f"{what}: HTTP {exc.status_code}: {exc.response.text[:300]}", status=exc.status_code) from exc
    except cloudflare.APIConnectionError as exc:
        raise CloudflareError(f"{what}: could not reach {api.sdk.base_url}graphql ({exc})") from exc
    try:
        body = response.json()
    except json.JSONDecodeError as exc:
        raise CloudflareError(f"{what}: the API answered non-JSON (HTTP {response.status_code})") from exc
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        text = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
        raise CloudflareError(
            f"{what}: {text}",
            hint="the audit token needs Account Analytics Read to query kvOperationsAdaptiveGroups",
        )
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise CloudflareError(f"{what}: the answer has no data")
    return data


def fit_line(values: Sequence[float]) -> tuple[float, float]:
    """Least squares ``y = intercept + slope * x`` over x = 0..n-1; a single point is a flat line."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    if n == 1:
        return 0.0, float(values[0])
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    spread = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values)) / spread
    return slope, mean_y - slope * mean_x


def forecast(report: UsageReport) -> tuple[dict[str, Forecast], float]:
    """Each action's forecast and the projected monthly cost on Workers Paid (operations + storage)."""
    n = len(report.days)
    result: dict[str, Forecast] = {}
    cost = pricing.PAID_BASE_USD
    for action in pricing.ACTIONS:
        daily = [sum(series[action][i] for series in report.operations.values()) for i in range(n)]
        slope, intercept = fit_line(daily)
        projected = [max(0.0, intercept + slope * (n + d)) for d in range(FORECAST_DAYS)]
        limit = pricing.FREE_DAILY[action]
        if daily and daily[-1] >= limit:
            crosses: int | None = 0
        else:
            crosses = next((d + 1 for d, value in enumerate(projected) if value >= limit), None)
        total = sum(projected)
        extra = max(0.0, total - pricing.PAID_INCLUDED_MONTHLY[action])
        action_cost = extra / 1_000_000 * pricing.PAID_USD_PER_MILLION[action]
        cost += action_cost
        result[action] = Forecast(action, daily, slope, intercept, projected, limit, crosses, total, action_cost)
    stored = sum((s["byteCount"][-1] or 0) for s in report.storage.values())
    extra_bytes = max(0, stored - pricing.PAID_STORAGE_INCLUDED_BYTES)
    cost += extra_bytes / 1_000_000_000 * pricing.PAID_STORAGE_USD_PER_GB_MONTH
    return result, cost
