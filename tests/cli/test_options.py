"""Every option of every command can come from an environment variable, and `--help` names it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main
from typer.testing import CliRunner

from kvstack.cli import app


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf command with its path (typer carries its own click: duck-typed)."""
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            yield from commands(command, (*path, name))
    else:
        yield path, group


def test_every_option_of_every_command_has_an_environment_variable_named_in_help() -> None:
    root = typer.main.get_command(app)
    missing = []
    seen = 0
    for path, command in commands(root):
        helptext = CliRunner().invoke(app, [*path, "--help"], terminal_width=400).output
        for param in command.params:
            if param.param_type_name != "option" or param.name == "help":
                continue
            seen += 1
            if not param.envvar:
                missing.append(f"kvstack {' '.join(path)} {param.opts[0]}")
            elif str(param.envvar) not in helptext:
                missing.append(f"kvstack {' '.join(path)} {param.opts[0]}: {param.envvar} not in --help")
    assert seen > 30
    assert missing == []
