"""`kvstack render`: the stack's namespace ids merged into every app's wrangler file and .env."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kvstack.cli.common import RootOption, find_root
from kvstack.cli.output import Output
from kvstack.errors import DriftError, UsageError

if TYPE_CHECKING:  # the render package is imported by the command itself: `kvstack --help` does not need it
    from kvstack.render import FilePlan, Finding, KvBinding


class Format(StrEnum):
    table = "table"
    json = "json"


def render(
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack", "-s", envvar="KVSTACK_STACK", help="The stack to render: dev, prod, … [env: KVSTACK_STACK]"
        ),
    ] = None,
    root: RootOption = None,
    app: Annotated[str | None, typer.Option("--app", help="Render only this app.")] = None,
    outputs_file: Annotated[
        Path | None,
        typer.Option(
            "--outputs",
            envvar="KVSTACK_OUTPUTS",
            help="The outputs document (JSON) to render from; default: `pulumi stack output` when the Pulumi CLI "
            "is on PATH, else the local Cloudflare [env: KVSTACK_OUTPUTS]",
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 with a diff and findings if any file drifted.")
    ] = False,
    to_stdout: Annotated[
        bool, typer.Option("--stdout", help="Print the rendered files instead of writing them (tokens masked).")
    ] = False,
    with_secrets: Annotated[
        bool, typer.Option("--with-secrets", help="Also write CLOUDFLARE_API_TOKEN into the .env of rest apps.")
    ] = False,
    output_format: Annotated[
        Format, typer.Option("--format", help="table for people, json for machines.")
    ] = Format.table,
    into: Annotated[
        Path | None,
        typer.Option(
            "--into",
            help="Render into this folder instead of the project: DIR/<path> starts from the file already there, "
            "else from the project's own file.",
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Without a catalog: merge --bind bindings into this one file.")
    ] = None,
    bind: Annotated[
        list[str] | None,
        typer.Option("--bind", help="With --file: BINDING=ID[,PREVIEW_ID]; repeat for more bindings."),
    ] = None,
    env: Annotated[
        str | None, typer.Option("--env", help="With --file: write the \\[env.NAME] section instead of the top level.")
    ] = None,
) -> None:
    """Merge the stack's KV namespace ids into each app's own wrangler file (and rest apps' .env).

    Only the `kv_namespaces` entries the catalog manages change: comments, order, formatting, other
    bindings and unmanaged kv bindings stay. Every section the stack owns (top level, \\[env.staging], …)
    is written in full, since wrangler does not inherit kv_namespaces into environments; sections of
    other stacks are left alone. Placeholder ids are replaced; a missing file is created minimal.

    --check writes nothing and exits 1 with a unified diff per file that would change and a finding for
    every placeholder id and missing binding or preview id: the CI drift gate.

    Exit codes: 0 ok, 1 drift found by --check, 2 usage error, unreadable outputs or a file that does
    not parse (the file is left untouched; the error names its line and column).
    """
    from kvstack.render import plan_file, plan_render

    output = Output()
    if check and to_stdout:
        raise UsageError("--check and --stdout do not go together", hint="--check already prints the diff")
    if file is not None:
        for flag, given in (("--app", app), ("--outputs", outputs_file), ("--into", into)):
            if given is not None:
                raise UsageError(f"{flag} is for catalog renders; --file renders the --bind bindings only")
        if with_secrets:
            raise UsageError("--with-secrets is for catalog renders; --file writes no .env")
        if not bind:
            raise UsageError("--file needs at least one --bind BINDING=ID[,PREVIEW_ID]")
        plans = [plan_file(file, _parse_binds(bind), env=env, display=str(file))]
        subject = str(file)
    else:
        if bind or env is not None:
            raise UsageError(
                "--bind and --env go with --file", hint="with a catalog, Pulumi.<stack>.yaml says which sections"
            )
        if stack is None:
            raise UsageError("which stack? pass --stack (or set KVSTACK_STACK)")
        from kvstack.catalog import load_catalog
        from kvstack.outputs import read_outputs

        project = find_root(root)
        catalog = load_catalog(project, stack)
        outputs = read_outputs(project, stack, file=outputs_file, with_secrets=with_secrets)
        base_dir = into.resolve() if into is not None else None
        plans = plan_render(catalog, outputs, app=app, base_dir=base_dir, with_secrets=with_secrets)
        subject = f"stack {stack}"

    if check:
        _check(output, plans, subject, output_format)
    elif to_stdout:
        _print(output, plans, output_format)
    else:
        _write(output, plans, subject, output_format)


def _parse_binds(values: list[str]) -> list[KvBinding]:
    from kvstack import names
    from kvstack.render import KvBinding

    bindings: dict[str, KvBinding] = {}
    for value in values:
        name, _, ids = value.partition("=")
        parts = ids.split(",")
        if not name or not ids or len(parts) > 2:
            raise UsageError(f"--bind {value!r}: expected BINDING=ID or BINDING=ID,PREVIEW_ID")
        if not names.BINDING_NAME_RE.fullmatch(name):
            raise UsageError(f"--bind {value!r}: {name!r} is not a binding name (a JavaScript identifier)")
        for part in parts:
            if not names.is_namespace_id(part):
                raise UsageError(f"--bind {value!r}: {part!r} is not a namespace id (32 lowercase hex characters)")
        if name in bindings:
            raise UsageError(f"--bind {name} is given twice")
        bindings[name] = KvBinding(name, parts[0], parts[1] if len(parts) == 2 else None)
    return list(bindings.values())


def _finding_rows(findings: list[Finding]) -> list[tuple[str, ...]]:
    from rich.markup import escape  # "[env.staging]" is text, not markup

    return [
        tuple(escape(cell) for cell in (f.severity, f.app or "", f.file or "", f.section or "", f.kind, f.message))
        for f in sorted(findings, key=lambda f: ("error", "warning", "info").index(f.severity))
    ]


def _all_findings(plans: list[FilePlan]) -> list[Finding]:
    return [finding for plan in plans for finding in plan.findings]


def _file_document(plan: FilePlan, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "path": str(plan.path),
        "relpath": plan.relpath,
        "app": plan.app,
        "kind": plan.kind,
        "format": plan.format,
        "status": status,
        "drifted": plan.drifted,
        **extra,
    }


def _check(output: Output, plans: list[FilePlan], subject: str, fmt: Format) -> None:
    drifted = [plan for plan in plans if plan.drifted]
    findings = _all_findings(plans)
    if fmt is Format.json:
        output.json(
            {
                "mode": "check",
                "drift": bool(drifted),
                "files": [
                    _file_document(p, "drifted" if p.drifted else "in order", diff=p.diff() or None) for p in plans
                ],
                "findings": [f.to_dict() for f in findings],
            }
        )
    else:
        for plan in plans:
            if plan.drifted and plan.changed:
                output.text(plan.diff())
        if findings:
            output.table("findings", ["severity", "app", "file", "section", "kind", "message"], _finding_rows(findings))
    if drifted:
        errors = sum(1 for f in findings if f.severity == "error")
        raise DriftError(
            f"{subject}: {len(drifted)} of {len(plans)} file(s) drifted ({errors} error finding(s))",
            hint="run the same command without --check to write them",
        )
    output.success(f"{subject}: {len(plans)} file(s) match the outputs")


def _print(output: Output, plans: list[FilePlan], fmt: Format) -> None:
    if fmt is Format.json:
        files = [_file_document(p, p.status, text=p.masked(p.new_text)) for p in plans]
        output.json({"mode": "stdout", "files": files})
    else:
        for plan in plans:
            if len(plans) > 1:
                output.text(f"==> {plan.relpath} <==\n")
            output.text(plan.masked(plan.new_text))
    for finding in _all_findings(plans):
        if finding.severity == "warning":
            output.warning(f"{finding.file}: {finding.message}")


def _write(output: Output, plans: list[FilePlan], subject: str, fmt: Format) -> None:
    import stat

    from kvstack.render import check_plans, write_plan

    check_plans(plans)  # all or nothing: a read-only or linked file stops the render before any write
    rows = []
    for plan in plans:
        status = plan.status
        before = stat.S_IMODE(plan.path.stat().st_mode) if plan.old_text is not None else None
        if write_plan(plan) and status == "unchanged":
            status = "mode fixed"
        if plan.mode is not None and before is not None and before != plan.mode:
            output.info(f"{plan.relpath}: mode {before:04o} → {plan.mode:04o}: it holds secrets, only you may read it")
        rows.append((plan, status))
    findings = _all_findings(plans)
    if fmt is Format.json:
        output.json(
            {
                "mode": "write",
                "files": [_file_document(p, s) for p, s in rows],
                "findings": [f.to_dict() for f in findings],
            }
        )
    else:
        output.table(
            f"render {subject}",
            ["file", "app", "status", "written to"],
            [(p.relpath, p.app or "", s, str(p.path)) for p, s in rows],
        )
    for plan, status in rows:
        if status == "created":
            source = f" from {plan.seed}" if plan.seed is not None else " minimal: add what else the app needs"
            output.info(f"created {plan.path}{source}")
    for finding in findings:
        if finding.severity == "warning" and finding.kind != "missing-file":  # said above: "created …"
            output.warning(f"{finding.file}: {finding.message}")
    written = sum(1 for _, s in rows if s != "unchanged")
    output.success(f"{subject}: {written} of {len(rows)} file(s) written")


def register(app: typer.Typer) -> None:
    app.command("render")(render)
