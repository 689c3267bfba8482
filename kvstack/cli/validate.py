"""`kvstack validate`: check the catalog of a stack without creating anything."""

from __future__ import annotations

from typing import Annotated

import typer

from kvstack.cli.common import RootOption, StackOption, find_root, resolve_stack
from kvstack.cli.output import Output


def validate(
    stack: StackOption = None,
    root: RootOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            envvar="KVSTACK_JSON_OUTPUT",
            help="Print the validated catalog summary as JSON",
        ),
    ] = False,
) -> None:
    """Validate the catalog of a stack and every file it points at, listing every problem.

    Checked: Pulumi.yaml and Pulumi.<stack>.yaml against the catalog schema and kvstack's rules; each
    binding's keyspace file (a KV one) and each store's (a Redis one, `kind: redis`) against
    schemas/keyspace.schema.json and kvstack's rules; each app's wrangler file (it parses,
    binds no name twice); that no other stack owns the same section of the same wrangler file; that the
    stacks sharing an account stay within Cloudflare's 1,000 namespaces.

    Exit 0 when all is valid, 2 with every problem (file:line, YAML path, what is allowed) when it is not.
    Nothing is created and no credentials are needed.
    """
    from kvstack.errors import CatalogProblems
    from kvstack.validation import validate_project

    output = Output()
    project = find_root(root)
    stack = resolve_stack(project, stack)
    result = validate_project(project, stack)
    for note in result.notes:
        output.warning(note)
    if result.problems:
        raise CatalogProblems(result.problems)
    catalog = result.catalog
    assert catalog is not None  # no problems means it loaded
    rows = [
        (
            app.name,
            app.kind,
            binding.name,
            binding.title,
            binding.preview_title,
            "adopt " + binding.adopt.id if binding.adopt else "create",
        )
        for app, binding in catalog.bindings()
    ]
    if as_json:
        output.json(
            {
                "stack": catalog.stack,
                "environment": catalog.environment,
                "account_id": catalog.account_id,
                "protect": catalog.protect,
                "bindings": [
                    dict(zip(("app", "kind", "binding", "title", "preview_title", "action"), r, strict=True))
                    for r in rows
                ],
                "tokens": [
                    {"key": t.key, "role": t.role, "app": t.app, "permissions": list(t.permissions)}
                    for t in catalog.tokens
                ],
            }
        )
        return
    output.table(
        f"catalog of stack {catalog.stack} (environment {catalog.environment})",
        ["app", "kind", "binding", "title", "preview title", "namespace"],
        rows,
    )
    output.success(f"{stack}: {len(catalog.apps)} apps, {len(rows)} bindings, {len(catalog.tokens)} tokens — valid")


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
