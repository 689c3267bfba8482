"""The `kvstack` command line: one module per command, each registering itself on the app.

Commands are thin: they parse options, call the domain, and talk only through
:class:`kvstack.cli.output.Output`. Every deliberate error is a KvstackError, printed to stderr with
its exit code (0 ok, 1 check failure or drift, 2 usage or configuration error).
"""

from __future__ import annotations

import importlib
import sys

import typer

from kvstack.errors import KvstackError

__all__ = ["app", "main"]

app = typer.Typer(
    name="kvstack",
    help="Provision Cloudflare Workers KV with Pulumi and prove, after every deploy, that it works.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module defines `register(app)`; add a line here when a command module is added.
COMMAND_MODULES = (
    "kvstack.cli.validate",
    "kvstack.cli.plan",
    "kvstack.cli.render",
    "kvstack.cli.check",
    "kvstack.cli.audit",
    "kvstack.cli.local",
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


@app.callback()
def _root() -> None:
    """Provision Cloudflare Workers KV with Pulumi and prove, after every deploy, that it works.

    Exit codes: 0 ok, 1 a check failed or files/account drifted, 2 usage or configuration error.
    """


def main() -> None:
    """Entry point of the console script: KvstackErrors become a message on stderr and their exit code.

    Typer's standalone mode handles usage errors itself (exit 2, with the usage line).
    """
    from kvstack.cli.output import Output

    try:
        app()
    except KvstackError as error:
        Output().error(str(error))
        sys.exit(error.exit_code)
