"""The one object commands talk through: data to stdout, messages and progress to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

from kvstack.errors import KvstackError

__all__ = ["Output", "ProgressBar"]


class Output:
    """info/success/warning/error to stderr; tables and JSON (the command's result) to stdout."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.out = Console(file=sys.stdout, highlight=False, soft_wrap=True, width=_width(sys.stdout))
        self.err = Console(file=sys.stderr, highlight=False, soft_wrap=True, width=_width(sys.stderr))

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message, markup=False)

    def success(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[green]✓[/green] {_escape(message)}")

    def warning(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {_escape(message)}")

    def error(self, message: str) -> None:
        self.err.print(f"[red]error:[/red] {_escape(message)}")

    def abort(self, message: str, code: int = 2) -> NoReturn:
        error = KvstackError(message)
        error.exit_code = code
        raise error

    def text(self, text: str) -> None:
        """Plain text to stdout, exactly as given (diffs, rendered files)."""
        sys.stdout.write(text)
        sys.stdout.flush()

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()

    def table(self, title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        table = Table(title=title, title_justify="left", show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.out.print(table)

    def status(self, message: str) -> Any:
        """A spinner on stderr while long work runs (use as a context manager)."""
        return self.err.status(message)

    def progress_bar(self, label: str, total: int) -> ProgressBar | None:
        """A live bar on stderr when it is a terminal (stop it when done); None in logs and CI."""
        if not self.err.is_terminal:
            return None
        return ProgressBar(self.err, label, total)

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question (default no) on the terminal."""
        import typer

        return typer.confirm(question)


class ProgressBar:
    """``label [bar] n/total description``, transient: it disappears when stopped."""

    def __init__(self, console: Console, label: str, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
            console=console, transient=True,
        )  # fmt: skip
        self._progress.start()
        self._task = self._progress.add_task("", total=total)

    def describe(self, text: str) -> None:
        self._progress.update(self._task, description=text)

    def advance(self) -> None:
        self._progress.advance(self._task)

    def stop(self) -> None:
        self._progress.stop()


def _width(stream: Any) -> int | None:
    """Rich's 80 columns when piped would fold ids and titles; logs and CI get room for them."""
    if stream.isatty():
        return None
    return 200


def _escape(message: str) -> str:
    from rich.markup import escape

    return escape(message)
