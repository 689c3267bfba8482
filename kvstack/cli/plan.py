"""`kvstack plan`: evaluate the Pulumi program offline and show what it would create."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from kvstack.cli.common import RootOption, StackOption, find_root, resolve_stack
from kvstack.cli.output import Output

if TYPE_CHECKING:
    from kvstack.plan import Plan


def plan(
    stack: StackOption = None,
    root: RootOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            envvar="KVSTACK_JSON_OUTPUT",
            help="Print the resources and the outputs document (under `kvstack`) as one JSON document",
        ),
    ] = False,
) -> None:
    """Evaluate the Pulumi program for a stack offline and show every resource and the outputs document.

    The program runs against Pulumi mocks: nothing is created, no credentials and no Pulumi CLI are
    needed, and ids are deterministic placeholders (an adopted namespace keeps its real id).
    Exit 0 when the program evaluates, 2 when the catalog or the program is wrong.
    """
    from kvstack.plan import plan as make_plan

    output = Output()
    project = find_root(root)
    stack = resolve_stack(project, stack)
    with output.status(f"evaluating the Pulumi program for stack {stack}"):
        result = make_plan(project, stack)
    if as_json:
        output.json(result.to_json())
        return
    _show(output, result)
    custom = result.custom_resources()
    imported = sum(1 for r in custom if r.import_id)
    output.success(
        f"{result.stack}: {len(custom)} Cloudflare resources ({imported} imported) in "
        f"{len(result.resources) - len(custom)} components; ids are placeholders, nothing was created"
    )


def _show(output: Output, result: Plan) -> None:
    output.table(
        f"resources of stack {result.stack}",
        ["type", "name", "title / name", "id", "protection", "action"],
        (
            (r.short_type, "  " * r.depth + r.name, r.title, r.id, _protection(r.protect, r.retain_on_delete), r.action)
            for r in result.resources
        ),
    )
    imports = [(r.short_type, r.name, r.import_id) for r in result.resources if r.import_id]
    if imports:
        output.table("imports (adopted, not created)", ["type", "name", "import id"], imports)
    output.table(
        "bindings",
        ["app", "kind", "binding", "title", "id", "preview title", "preview id"],
        (
            (app.name, app.kind, name, ids.title, ids.id, ids.preview_title, ids.preview_id)
            for app, name, ids in result.outputs.bindings()
        ),
    )
    titles = {r.id: r.title for r in result.custom_resources() if r.id}
    pages = [
        (r.title, environment, binding, namespace_id, titles.get(namespace_id, "(not in this stack)"))
        for r in result.resources
        for environment, ids in r.bindings.items()
        for binding, namespace_id in sorted(ids.items())
    ]
    if pages:
        output.table(
            "Pages project bindings", ["project", "deployments", "binding", "namespace id", "namespace title"], pages
        )
    output.table(
        "token policies",
        ["token", "name", "effect", "permission groups", "resources"],
        (
            (
                r.name,
                r.title,
                policy.effect,
                ", ".join(policy.permission_groups),
                ", ".join(f"{key}: {value}" for key, value in policy.resources.items()),
            )
            for r in result.resources
            for policy in r.policies
        ),
    )
    output.info("outputs document:")
    output.text(json.dumps(dict(result.document), indent=2) + "\n")


def _protection(protect: bool, retain: bool) -> str:
    words = [word for word, on in (("protect", protect), ("retain", retain)) if on]
    return ", ".join(words) or "-"


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
