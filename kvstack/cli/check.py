"""`kvstack check`: after a deploy, prove bindings, tokens, key schemas and the app flows work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from kvstack.cli.output import Output, ProgressBar
from kvstack.errors import UsageError

if TYPE_CHECKING:
    from checks.report import CheckResult, RunResults

_MARK = {"passed": "✓", "failed": "✗", "error": "!", "skipped": "-"}


class _Progress:
    """Live progress on stderr: a bar on a terminal, one line per finished check in logs."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.bar: ProgressBar | None = None

    def started(self, total: int) -> None:
        self.bar = self.output.progress_bar("checking", total)
        if self.bar is None:
            self.output.info(f"running {total} checks")

    def checking(self, nodeid: str) -> None:
        if self.bar is not None:
            self.bar.describe(nodeid.rsplit("::", maxsplit=1)[-1][:80])

    def finished(self, result: CheckResult) -> None:
        if self.bar is not None:
            self.bar.advance()
        else:
            self.output.info(f"{_MARK[result.outcome]} {result.kind:9} {result.name}")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _summary(output: Output, results: RunResults, spent: dict[str, int], allowed: tuple[str, ...]) -> None:
    rows = [
        (g["app"], g["kind"], g["passed"], g["failed"], g["error"], g["skipped"]) for g in results.by_app_and_kind()
    ]
    output.table("checks per app and kind", ["app", "kind", "passed", "failed", "errors", "skipped"], rows)
    for error in results.collection_errors:
        output.text(f"\nerror: {error}\n")
    for result in results.ordered():
        if result.outcome in ("failed", "error"):
            output.text(f"\n{_MARK[result.outcome]} {result.kind} {result.name}\n  {result.message}\n")
        for note in result.warnings:
            output.warning(f"{result.name}: {note}")
    for skip in results.skips(allowed):
        verdict = (
            "allowed by --allow-skip" if skip["allowed"] else f"fails the run; allow with --allow-skip {skip['kind']}"
        )
        output.text(f"\n- skipped {skip['kind']} {skip['id'].rsplit('::', 1)[-1]} ({verdict})\n  {skip['reason']}\n")
    for residue in results.residue:
        output.error(f"smoke residue: {residue}")
    counts = results.counts()
    output.text(
        f"\n{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, {counts['skipped']} skipped"
        f" — spent {spent['api_requests']} API requests ({spent['retries']} retries), {spent['kv_reads']} KV reads, "
        f"{spent['kv_writes']} writes, {spent['kv_deletes']} deletes, {spent['kv_lists']} lists\n"
    )
    coverage = [
        f"{row['kind']} {row['checked']}/{row['declared']}"
        + "".join(f", {row[what]} {what.replace('_', ' ')}" for what in ("skipped", "missing", "not_run") if row[what])
        for row in results.coverage()
    ]
    output.text(f"checked of what the catalog declares: {'; '.join(coverage)}\n")
    if results.smoke_remaining or results.smoke_errors:
        left = ", ".join(results.smoke_remaining) or "unknown"
        output.error(f"smoke keys remain after the run: {left} {'; '.join(results.smoke_errors)}")


def check(
    stack: StackOption = None,
    root: RootOption = None,
    local: LocalOption = False,
    app: Annotated[
        list[str] | None,
        typer.Option(
            "--app",
            "-a",
            help="Only this app's checks (repeatable; space-separated in the variable)",
            **env("KVSTACK_APPS"),
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option("--only", help="Comma-separated kinds: bindings,tokens,keyspaces,flows", **env("KVSTACK_ONLY")),
    ] = None,
    sample: Annotated[
        int, typer.Option("--sample", min=0, help="Values read per key pattern", **env("KVSTACK_SAMPLE"))
    ] = 100,
    deep: Annotated[
        bool, typer.Option("--deep", help="Read every value (ignores --sample)", **env("KVSTACK_DEEP"))
    ] = False,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit", help="Write JUnit XML here \\[default: <root>/reports/check-<stack>.xml]", **env("KVSTACK_JUNIT")
        ),
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write the JSON report here \\[default: <root>/reports/check-<stack>.json]",
            **env("KVSTACK_JSON"),
        ),
    ] = None,
    keyword: Annotated[
        str | None,
        typer.Option("-k", help="Only checks matching this pytest -k expression", **env("KVSTACK_KEYWORD")),
    ] = None,
    outputs: OutputsOption = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="Real Cloudflare only: the API base URL, ending in /client/v4 \\[default: "
            "CLOUDFLARE_API_BASE_URL, else https://api.cloudflare.com/client/v4]",
            **env("KVSTACK_API_URL"),
        ),
    ] = None,
    expiry_days: Annotated[
        int,
        typer.Option(
            "--expiry-days", min=0, help="Fail tokens expiring within this many days", **env("KVSTACK_EXPIRY_DAYS")
        ),
    ] = 14,
    window: Annotated[
        float,
        typer.Option(
            "--window", min=0, help="How long flows wait for KV to become consistent (s)", **env("KVSTACK_WINDOW")
        ),
    ] = 60.0,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    allow_skip: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-skip",
            metavar="KIND",
            **env("KVSTACK_ALLOW_SKIP"),
            help="A check kind (bindings, tokens, keyspaces, flows) whose skipped checks do not fail the run; "
            "repeatable. Any other skip exits 1.",
        ),
    ] = None,
) -> None:
    """Verify a deployed stack: bindings, tokens, keyspaces (key schemas) and the app flows, end to end.

    The target is the real Cloudflare (outputs from --outputs or `pulumi stack output`, the token from
    CLOUDFLARE_API_TOKEN) or, with --local, the running `kvstack local up` (its outputs, API, token and
    app URLs only); the command says which. Flow secrets of deployed apps come from
    KVSTACK_<APP>_WEBHOOK_SECRET / _LOGIN_USER / _LOGIN_PASSWORD. The JSON and JUnit reports are always
    written (reports/check-<stack>.json and .xml under the project unless moved).
    Everything the catalog declares is accounted for first: an app, binding, token or flow the outputs
    lack fails, and a skipped check (a flow without its URL or secret) fails the run unless
    --allow-skip names its kind. Exit 0 when every check passes, 1 when one fails, is skipped or
    leaves smoke data behind, 2 on a usage or configuration error.
    Token values are never printed.
    """
    from checks.context import CHECK_KINDS, CheckOptions, build_context, target_of
    from checks.runner import run_checks

    output = Output()
    kinds = tuple(k.strip() for k in only.split(",") if k.strip()) if only else CHECK_KINDS
    unknown = [k for k in kinds if k not in CHECK_KINDS]
    if unknown:
        raise UsageError(f"--only: unknown kind(s) {', '.join(unknown)}", hint=f"kinds: {', '.join(CHECK_KINDS)}")
    project = find_root(root)
    stack = resolve_stack(project, stack, local=local)
    allowed = tuple(dict.fromkeys(k.strip() for text in allow_skip or () for k in text.split(",") if k.strip()))
    unknown = [k for k in allowed if k not in CHECK_KINDS]
    if unknown:
        raise UsageError(f"--allow-skip: unknown kind(s) {', '.join(unknown)}", hint=f"kinds: {', '.join(CHECK_KINDS)}")
    options = CheckOptions(
        stack=stack,
        root=project,
        local=local,
        apps=tuple(app or ()),
        only=kinds,  # type: ignore[arg-type]
        sample=sample,
        deep=deep,
        outputs_file=outputs,
        api_url=api_url,
        expiry_days=expiry_days,
        consistency_window=window,
        allow_skip=allowed,  # type: ignore[arg-type]
        timeout=timeout,
    )
    target = target_of(options)
    output.info(target.describe(api=True))
    context = build_context(options, target)
    json_file = json_file or project / "reports" / f"check-{stack}.json"
    junit = junit or project / "reports" / f"check-{stack}.xml"
    progress = _Progress(output)
    try:
        outcome = run_checks(context, junit=junit, json_report=json_file, keyword=keyword, listener=progress)
    finally:
        progress.stop()
        context.close()
    _summary(output, outcome.results, context.api.budget.snapshot(), allowed)
    output.info(f"reports: {json_file}, {junit}")
    if context.api.fatal is not None:
        raise context.api.fatal  # the run ended early: exit 2 with that one error, after the summary
    raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
