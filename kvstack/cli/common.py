"""Options shared by commands, each with its environment variable, and the project folder lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kvstack.catalog import PROJECT_FILE
from kvstack.errors import UsageError

__all__ = ["RootOption", "StackOption", "find_root"]

StackOption = Annotated[
    str,
    typer.Option(
        "--stack",
        "-s",
        envvar="KVSTACK_STACK",
        help="The stack (environment): dev, prod, … [env: KVSTACK_STACK]",
    ),
]
RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        envvar="KVSTACK_ROOT",
        help="The project folder holding Pulumi.yaml (default: the nearest one above the current folder) "
        "[env: KVSTACK_ROOT]",
    ),
]


def find_root(root: Path | None) -> Path:
    """``root`` if given, else the nearest folder upwards from the current one that holds Pulumi.yaml."""
    if root is not None:
        if not (root / PROJECT_FILE).is_file():
            raise UsageError(f"{root} holds no {PROJECT_FILE}", hint="pass --root with the kvstack project folder")
        return root.resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise UsageError(
        f"no {PROJECT_FILE} in {here} or any folder above it",
        hint="run kvstack inside the project, or pass --root / set KVSTACK_ROOT",
    )
