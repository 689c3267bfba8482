"""The audit report as one self-contained HTML file: inline CSS and SVG, no script, nothing fetched.

Built from the JSON report (never from live objects), so the HTML shows exactly what the JSON says:
summary, findings, operations per day per namespace with the forecast and the free-tier line (one chart
per action type), storage per namespace, and the keyspace breakdown per namespace.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any, Final

from kvstack.files import atomic_write

__all__ = ["render_html", "write_html"]

WIDTH: Final = 760
HEIGHT: Final = 260
PAD: Final = 48
COLOURS: Final = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
STYLE: Final = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1, h2, h3 { font-weight: 600; } table { border-collapse: collapse; margin: .5rem 0 1.5rem; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } .error { color: #b00020; } .warning { color: #a65b00; } .info { color: #555; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; } .card { border: 1px solid #ddd; border-radius: 6px;
padding: .5rem 1rem; min-width: 9rem; } .card b { display: block; font-size: 1.6rem; }
svg { background: #fafafa; border: 1px solid #eee; } .legend span { margin-right: 1rem; white-space: nowrap; }
code { background: #f4f4f4; padding: 0 .2rem; }
"""


def write_html(path: Path, report: dict[str, Any]) -> None:
    """Write the HTML report whole or not at all."""
    atomic_write(path, render_html(report), mode=0o644)


def render_html(report: dict[str, Any]) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>kvstack audit — {escape(', '.join(report['stacks']))}</title><style>{STYLE}</style></head><body>",
        f"<h1>kvstack audit: account <code>{escape(report['account_id'])}</code></h1>",
        f"<p>Target {escape(report['target'])}, stack(s) {escape(', '.join(report['stacks']))}, "
        f"{escape(report['finished_at'])}; exit code {report['exit_code']} (fails on "
        f"{escape(report['options']['fail_on'])}).</p>",
        _summary(report),
        _findings(report["findings"]),
        _usage(report),
        _storage(report),
        _keyspaces(report["namespaces"]),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def _summary(report: dict[str, Any]) -> str:
    summary = report["summary"]
    cards = [("namespaces", summary["namespaces"]), ("keys", summary["keys"])]
    cards += [(f"{k} findings", v) for k, v in reversed(summary["findings"].items())]
    cost = summary["projected_monthly_cost_usd"]
    if cost is not None:
        cards.append(("projected monthly cost", f"${cost:.2f}"))
    html = ["<h2 id='summary'>Summary</h2><div class='cards'>"]
    html += [f"<div class='card'><b>{escape(str(v))}</b>{escape(k)}</div>" for k, v in cards]
    html.append("</div><ul>")
    html += [f"<li>{escape(sentence)}</li>" for sentence in summary["forecast"]]
    html.append("</ul>")
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in summary["by_classification"].items())
    html.append(f"<table><tr><th>classification</th><th>namespaces</th></tr>{rows}</table>")
    return "".join(html)


def _findings(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return "<h2 id='findings'>Findings</h2><p>None.</p>"
    rows = "".join(
        f"<tr class='{escape(f['severity'])}'><td>{escape(f['severity'])}</td><td>{escape(f['kind'])}</td>"
        f"<td>{escape(f['subject'])}</td><td>{escape(f['message'])}</td></tr>"
        for f in findings
    )
    return (
        "<h2 id='findings'>Findings</h2><table><tr><th>severity</th><th>kind</th><th>subject</th>"
        f"<th>message</th></tr>{rows}</table>"
    )


def _titles(report: dict[str, Any]) -> dict[str, str]:
    return {n["id"]: n["title"] for n in report["namespaces"] if n["id"]}


def _usage(report: dict[str, Any]) -> str:
    usage = report["usage"]
    if usage is None:
        return "<h2 id='usage'>Usage</h2><p>No usage data.</p>"
    titles = _titles(report)
    days = usage["days"]
    html = [
        "<h2 id='usage'>Operations per day</h2>",
        f"<p>Model: {escape(usage['forecast_model'])}. Free tier and prices from "
        + ", ".join(f"<code>{escape(s)}</code>" for s in usage["pricing"]["sources"])
        + f", read on {escape(usage['pricing']['read_on'])}.</p>",
    ]
    for action, forecast in usage["forecast"].items():
        series = {
            titles.get(ns, ns): per_action[action]
            for ns, per_action in sorted(usage["operations"].items())
            if any(per_action.get(action, []))
        }
        html.append(f"<h3>{escape(action)}s</h3><p>{escape(forecast['summary'])}</p>")
        series["account total"] = forecast["daily"]
        html.append(_line_chart(f"chart-{action}", days, series, forecast, action))
    return "".join(html)


def _line_chart(
    chart_id: str, days: list[str], series: dict[str, list[int]], forecast: dict[str, Any], action: str
) -> str:
    """Per-namespace lines over the window, the account's forecast after it, and the free-tier line."""
    projected = forecast["projected"]
    limit = forecast["free_daily_limit"]
    total = len(days) + len(projected)
    top = float(max([limit, *forecast["daily"], *projected, *(v for s in series.values() for v in s), 1])) * 1.1

    def x(i: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * i / max(1, total - 1)

    def y(v: float) -> float:
        return HEIGHT - PAD + 10 - (HEIGHT - 2 * PAD) * v / top

    out = [f"<svg id='{chart_id}' class='chart' width='{WIDTH}' height='{HEIGHT}' role='img' "
           f"aria-label='{escape(action)}s per day' xmlns='http://www.w3.org/2000/svg'>"]  # fmt: skip
    out.append(
        f"<line class='free-tier' x1='{PAD}' x2='{WIDTH - PAD}' y1='{y(limit):.1f}' y2='{y(limit):.1f}' "
        f"stroke='#b00020' stroke-dasharray='6 4'/><text x='{WIDTH - PAD}' y='{y(limit) - 4:.1f}' "
        f"text-anchor='end' font-size='11' fill='#b00020'>free tier {limit:,}/day</text>"
    )
    legend = []
    for index, (title, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        out.append(f"<polyline class='series' fill='none' stroke='{colour}' stroke-width='2' points='{points}'/>")
        out += [
            f"<circle class='point' cx='{x(i):.1f}' cy='{y(v):.1f}' r='2.5' fill='{colour}'>"
            f"<title>{escape(title)} {escape(days[i])}: {v}</title></circle>"
            for i, v in enumerate(values)
        ]
        legend.append(f"<span style='color:{colour}'>■ {escape(title)}</span>")
    start = len(days) - 1
    last = forecast["daily"][-1] if forecast["daily"] else 0
    path = [f"{x(start):.1f},{y(last):.1f}"] + [f"{x(start + 1 + i):.1f},{y(v):.1f}" for i, v in enumerate(projected)]
    out.append(
        f"<polyline class='forecast' fill='none' stroke='#444' stroke-dasharray='3 3' points='{' '.join(path)}'/>"
    )
    out.append(
        f"<text x='{PAD}' y='{HEIGHT - 8}' font-size='11'>{escape(days[0])}</text>"
        f"<text x='{x(start):.1f}' y='{HEIGHT - 8}' font-size='11' text-anchor='middle'>{escape(days[-1])}</text>"
        f"<text x='{WIDTH - PAD}' y='{HEIGHT - 8}' font-size='11' text-anchor='end'>+{len(projected)} days</text>"
        f"<text x='4' y='{PAD - 20}' font-size='11'>{int(top):,}</text></svg>"
    )
    legend.append("<span>┄ account forecast</span><span style='color:#b00020'>┄ free tier</span>")
    return "".join(out) + f"<div class='legend'>{''.join(legend)}</div>"


def _bar_chart(chart_id: str, label: str, bars: list[tuple[str, float]]) -> str:
    if not bars:
        return f"<p>No {escape(label)}.</p>"
    height = 24 * len(bars) + 20
    top = max(v for _, v in bars) or 1
    out = [f"<svg id='{chart_id}' class='chart' width='{WIDTH}' height='{height}' role='img' "
           f"aria-label='{escape(label)}' xmlns='http://www.w3.org/2000/svg'>"]  # fmt: skip
    for i, (name, value) in enumerate(bars):
        width = (WIDTH - 320) * value / top
        out.append(
            f"<text x='4' y='{i * 24 + 26}' font-size='12'>{escape(name[:40])}</text>"
            f"<rect class='bar point' x='260' y='{i * 24 + 12}' width='{max(width, 1):.1f}' height='16' fill='#1f77b4'>"
            f"<title>{escape(name)}: {value:,.0f}</title></rect>"
            f"<text x='{266 + width:.1f}' y='{i * 24 + 26}' font-size='11'>{value:,.0f}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _storage(report: dict[str, Any]) -> str:
    bars = []
    for namespace in report["namespaces"]:
        stats = namespace["statistics"]
        if stats is not None:
            bars.append((namespace["title"], float(stats["value_bytes"]["total_bytes"])))
    return "<h2 id='storage'>Storage per namespace (value bytes)</h2>" + _bar_chart("chart-storage", "bytes", bars)


def _keyspaces(namespaces: list[dict[str, Any]]) -> str:
    html = ["<h2 id='keyspaces'>Keyspaces</h2>"]
    for index, namespace in enumerate(namespaces):
        stats = namespace["statistics"]
        if stats is None or stats["keys"] == 0:
            continue
        bars = [(name, float(count)) for name, count in stats["patterns"].items()]
        if stats["unknown_keys"] or stats["keyspace"] is None:
            bars.append(
                ("(unknown)" if stats["keyspace"] else "(no keyspace)", float(stats["unknown_keys"] or stats["keys"]))
            )
        sizes = stats["value_bytes"]
        ttl = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in stats["ttl"].items())
        html.append(
            f"<h3>{escape(namespace['title'])} <small>({escape(stats['keyspace'] or 'no keyspace')}, "
            f"{stats['keys']} keys)</small></h3><p>TTL — {escape(ttl)}; expiring within 24 h: "
            f"{stats['expiring_within_24h']}; with metadata: {stats['with_metadata']}; values p50/p95/max "
            f"{sizes['p50']}/{sizes['p95']}/{sizes['max']} B ({stats['values_read']} read)</p>"
        )
        html.append(_bar_chart(f"chart-keyspace-{index}", "keys per pattern", bars))
    return "".join(html)
