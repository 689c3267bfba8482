"""Options shared by commands, each with its environment variable, the project folder and stack lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

import typer

from kvstack.catalog import PROJECT_FILE, available_stacks
from kvstack.errors import UsageError

__all__ = [
    "DEFAULT_TIMEOUT",
    "LocalOption",
    "OutputsOption",
    "RootOption",
    "StackOption",
    "TimeoutOption",
    "env",
    "find_root",
    "resolve_stack",
]

StackOption = Annotated[
    str | None,
    typer.Option(
        "--stack",
        "-s",
        envvar="KVSTACK_STACK",
        help="The stack (environment): dev, prod, …; default: the project's only stack, if it has one",
    ),
]
RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        envvar="KVSTACK_ROOT",
        help="The project folder holding Pulumi.yaml (default: the nearest one above the current folder)",
    ),
]
LocalOption = Annotated[
    bool,
    typer.Option(
        "--local",
        envvar="KVSTACK_LOCAL",
        help="Target the running `kvstack local up` (outputs, API, token and app URLs all from it) instead of "
        "the real Cloudflare",
    ),
]
OutputsOption = Annotated[
    Path | None,
    typer.Option(
        "--outputs",
        envvar="KVSTACK_OUTPUTS",
        help="Real Cloudflare only: the outputs document (saved `pulumi stack output --json`, or `kvstack plan "
        "--json`); default: `pulumi stack output --stack S`",
    ),
]

# The run's deadline of every command that reads a deployed stack through the API (the guard in kvstack.cloudflare).
# The guard's DEFAULT_RUN_DEADLINE, not imported: the CLI starts without loading the SDK (a test holds them equal).
DEFAULT_TIMEOUT: Final = 300.0
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=1,
        envvar="KVSTACK_TIMEOUT",
        show_envvar=True,
        help="The whole run's deadline in seconds: 429s (after their Retry-After), 5xx and dropped requests are "
        "retried until then, and the run ends there with exit 2. A refused token or an API that cannot be "
        "reached ends the run at its first request, whatever this is.",
    ),
]


def env(name: str) -> dict[str, Any]:
    """``typer.Option`` arguments binding an option to the environment variable ``name`` (shown in --help)."""
    return {"envvar": name, "show_envvar": True}


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


def resolve_stack(root: Path, stack: str | None, *, local: bool = False) -> str:
    """The stack every command uses: ``--stack`` / KVSTACK_STACK, else (with --local) the stack the running
    local Cloudflare applied, else the project's only stack; else exit 2 listing them."""
    if stack:
        return stack
    if local:
        from kvstack.local.state import LocalState

        running = LocalState.load(root)
        if running is not None:
            return running.stack
    stacks = available_stacks(root)
    if len(stacks) == 1:
        return stacks[0]
    raise UsageError(
        "which stack? pass --stack (or set KVSTACK_STACK)",
        hint=f"stacks of {root}: {', '.join(stacks) or '(none: add a Pulumi.<stack>.yaml)'}",
    )
