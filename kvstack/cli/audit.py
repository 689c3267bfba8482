"""`kvstack audit`: what is really in the account — inventory and drift, keyspaces, usage, what to adopt."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kvstack.cli.common import (
    DEFAULT_TIMEOUT,
    LocalOption,
    OutputsOption,
    RootOption,
    StackOption,
    TimeoutOption,
    env,
    find_root,
    resolve_stack,
)
from kvstack.cli.output import Output
from kvstack.errors import UsageError

if TYPE_CHECKING:
    from kvstack.audit.importfile import AdoptionPlan
    from kvstack.audit.run import AuditResult

SEVERITY_CHOICES = ("info", "warning", "error")
_SIZE_COLUMNS = ("p50 B", "p95 B", "max B", "total B")


class _Progress:
    """A bar on stderr while namespaces are scanned (one line per namespace when not a terminal)."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.progress: Any = None
        self.task: Any = None

    def started(self, total: int) -> None:
        if self.output.err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                console=self.output.err, transient=True,
            )  # fmt: skip
            self.progress.start()
            self.task = self.progress.add_task("", total=total)
        else:
            self.output.info(f"scanning {total} namespaces")

    def scanned(self, title: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=title[:60])

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _parse_rate(spec: str) -> tuple[int, float]:
    count, _, seconds = spec.partition("/")
    try:
        limit, window = int(count), float(seconds or 300)
    except ValueError:
        raise UsageError(f"--rate-limit {spec!r} is not N/SECONDS", hint="e.g. --rate-limit 1200/300") from None
    if limit < 1 or window <= 0:
        raise UsageError(f"--rate-limit {spec!r}: N must be ≥ 1 and SECONDS > 0")
    return limit, window


def audit(
    stack: StackOption = None,
    root: RootOption = None,
    local: LocalOption = False,
    all_stacks: Annotated[
        bool,
        typer.Option("--all-stacks", help="Audit every stack of the catalog at once.", **env("KVSTACK_ALL_STACKS")),
    ] = False,
    deep: Annotated[
        bool, typer.Option("--deep", help="Read every value (default: a sample).", **env("KVSTACK_DEEP"))
    ] = False,
    sample: Annotated[
        int, typer.Option("--sample", min=0, help="Values read per namespace.", **env("KVSTACK_SAMPLE"))
    ] = 100,
    days: Annotated[
        int, typer.Option("--days", min=7, max=31, help="Days of usage to read (7–31).", **env("KVSTACK_AUDIT_DAYS"))
    ] = 7,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="Lowest severity that fails: info, warning, error.",
            **env("KVSTACK_AUDIT_FAIL_ON"),
        ),
    ] = "error",
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report here.", **env("KVSTACK_AUDIT_JSON"))
    ] = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write the HTML report here.", **env("KVSTACK_AUDIT_HTML"))
    ] = None,
    import_file: Annotated[
        Path | None,
        typer.Option(
            "--import-file",
            help="Write a `pulumi import --file` document for adoptable namespaces.",
            **env("KVSTACK_AUDIT_IMPORT_FILE"),
        ),
    ] = None,
    expiry_days: Annotated[
        int,
        typer.Option(
            "--expiry-days", min=0, help="Report tokens expiring within this many days.", **env("KVSTACK_EXPIRY_DAYS")
        ),
    ] = 14,
    outputs: OutputsOption = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="Real Cloudflare only: the API base URL, ending in /client/v4 \\[default: CLOUDFLARE_API_BASE_URL, "
            "else https://api.cloudflare.com/client/v4]",
            **env("KVSTACK_API_URL"),
        ),
    ] = None,
    rate_limit: Annotated[
        str,
        typer.Option("--rate-limit", help="At most N requests per SECONDS (N/SECONDS).", **env("KVSTACK_RATE_LIMIT")),
    ] = "1200/300",
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Requests in flight.", **env("KVSTACK_CONCURRENCY"))
    ] = 8,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    """Audit the account: every namespace classified against the catalog, keyspace statistics, usage and a
    30-day forecast against Workers KV's free tier and prices, and what to adopt.
    A refused token or an unreachable API ends the run at its first request, --timeout at its deadline (exit 2).

    Runs with the stack's read-only `audit` token: CLOUDFLARE_API_TOKEN (with --local: the token's value
    from the local Cloudflare's outputs). Exit 0 when no finding is at or above --fail-on, 1 when one is,
    2 on a usage or configuration error. Token values are never printed.
    """
    from kvstack.audit.importfile import plan_adoption, write_import_file
    from kvstack.audit.report import build_report, exit_code, write_json
    from kvstack.audit.run import run_audit
    from kvstack.audit.target import AuditOptions, open_target

    if fail_on not in SEVERITY_CHOICES:
        raise UsageError(f"--fail-on {fail_on!r} is not a severity", hint=f"use one of {', '.join(SEVERITY_CHOICES)}")
    limit, window = _parse_rate(rate_limit)
    output = Output()
    project = find_root(root)
    options = AuditOptions(
        stack=resolve_stack(project, stack, local=local),
        root=project,
        local=local,
        all_stacks=all_stacks,
        sample=sample,
        deep=deep,
        days=days,
        expiry_days=expiry_days,
        outputs_file=outputs,
        api_url=api_url,
        concurrency=concurrency,
        rate_limit=limit,
        rate_window=window,
        timeout=timeout,
    )
    target = open_target(options)
    output.info(target.source.describe())
    output.info(
        f"auditing account {target.account_id} (API {target.source.shown_api_url()}, with the stack's audit token) "
        f"for stack(s) {', '.join(target.audited)}"
    )
    progress = _Progress(output)
    try:
        result = run_audit(target, progress)
    finally:
        progress.stop()
        target.close()
    plan = plan_adoption(target.account_id, result.namespaces, target.catalogs)
    report = build_report(result, plan, fail_on)  # type: ignore[arg-type]
    if json_file is not None:
        write_json(json_file, report)
        output.success(f"JSON report: {json_file}")
    if html_file is not None:
        from kvstack.audit.html import write_html

        write_html(html_file, report)
        output.success(f"HTML report: {html_file}")
    if import_file is not None:
        write_import_file(import_file, plan)
        output.success(f"pulumi import file ({len(plan.document['resources'])} namespaces): {import_file}")
    _summary(output, result, plan, report)
    raise typer.Exit(exit_code(result, fail_on))  # type: ignore[arg-type]


def _summary(output: Output, result: AuditResult, plan: AdoptionPlan, report: dict[str, Any]) -> None:
    output.table(
        "namespaces",
        ["title", "id", "class", "stack", "keys", "reads", "writes", "deletes", "lists"],
        [
            (
                r.title,
                r.id or "—",
                r.classification,
                r.stack or "",
                result.statistics[r.id].keys if r.id in result.statistics else "",
                *(_ops(result, r.id)),
            )
            for r in result.namespaces
        ],
    )
    stats = [s for s in result.statistics.values() if s.keyspace or s.keys]
    output.table(
        "keyspaces",
        [*("namespace", "keyspace", "keys", "unknown", "no TTL", "<1h", "<1d", "longer"), *_SIZE_COLUMNS],
        [
            (
                s.title, s.keyspace or "—", s.keys, s.unknown, *s.ttl.values(),
                *(s.size_summary()[k] for k in ("p50", "p95", "max")),
                f"{'~' if s.size_summary()['estimated'] else ''}{s.size_summary()['total_bytes']}",
            )
            for s in sorted(stats, key=lambda s: s.title)
        ],
    )  # fmt: skip
    kinds: dict[str, list[Any]] = {}
    for finding in result.findings:
        kinds.setdefault(finding.kind, []).append(finding)
    for kind, findings in kinds.items():
        output.table(
            f"{kind} ({findings[0].severity}, {len(findings)})",
            ["subject", "message"],
            [(f.subject, f.message) for f in findings],
        )
    if result.usage is not None:
        for forecast in result.usage.forecasts.values():
            output.text(f"forecast: {forecast.sentence()}\n")
        output.text(f"projected monthly cost on Workers Paid: ${result.usage.monthly_cost_usd:.2f}\n")
    for stack, lines in plan.catalog_lines.items():
        output.text(f"\nto adopt into stack {stack}, add to Pulumi.{stack}.yaml:\n{lines}")
    for note in plan.notes:
        output.warning(note)
    summary = report["summary"]
    spent = result.budget
    counts = summary["findings"]
    output.text(
        f"\n{summary['namespaces']} namespaces, {summary['keys']} keys, {summary['values_read']} values read; "
        f"findings: {counts['error']} errors, {counts['warning']} warnings, {counts['info']} info — "
        f"spent {spent.get('api_requests', 0)} API requests ({spent.get('retries', 0)} retries): "
        f"{spent.get('kv_lists', 0)} KV lists, {spent.get('kv_reads', 0)} KV reads, "
        f"{spent.get('kv_writes', 0)} writes, {spent.get('kv_deletes', 0)} deletes\n"
    )


def _ops(result: AuditResult, namespace_id: str | None) -> tuple[Any, ...]:
    if result.usage is None or namespace_id is None:
        return ("", "", "", "")
    totals = result.usage.totals(namespace_id)
    return (totals["read"], totals["write"], totals["delete"], totals["list"])


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
