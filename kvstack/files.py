"""Reading and writing the user's files safely: never through a link, never a FIFO or device, never huge.

Every file kvstack reads that a person wrote (Pulumi.yaml, keyspaces, wrangler files, .env) comes in
through :func:`read_text`, and every file render writes goes out through :func:`check_writable` and
:func:`atomic_write`. A problem is a :class:`FileProblem` (what, where, what to do); each caller maps it
to its own :class:`~kvstack.errors.KvstackError` at its boundary, so the message names the right kind
of file. Text keeps its line endings and its UTF-8 byte order mark as found, so a rewrite changes
only what it means to change.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BOM", "MAX_INPUT_BYTES", "FileProblem", "atomic_write", "check_writable", "read_text"]

# Generous: the largest wrangler file of the corpus is a few KB, a catalog of 1,000 namespaces ~200 KB.
# The cap exists so that a mistaken 50 MB file fails at once instead of taking minutes and gigabytes.
MAX_INPUT_BYTES = 5 * 1024 * 1024
BOM = "\ufeff"
_BOM_BYTES = BOM.encode()


class FileProblem(Exception):
    """A file that cannot be read or written safely; the caller re-raises it as its own error type."""

    def __init__(
        self, message: str, *, line: int | None = None, column: int | None = None, hint: str | None = None
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(message)


@dataclass(frozen=True)
class _Kind:
    test: str
    name: str


_NOT_REGULAR = (
    _Kind("S_ISDIR", "a folder"),
    _Kind("S_ISFIFO", "a FIFO (named pipe)"),
    _Kind("S_ISCHR", "a character device"),
    _Kind("S_ISBLK", "a block device"),
    _Kind("S_ISSOCK", "a socket"),
)


def _refuse_special(path: Path, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:  # pragma: no cover - the link vanished between lstat and readlink
            target = "?"
        raise FileProblem(
            f"is a symbolic link to {target}; kvstack never reads or writes through a link",
            hint=f"replace the link with a regular file (or point the catalog at {target} itself)",
        )
    if not stat.S_ISREG(st.st_mode):
        kind = next((k.name for k in _NOT_REGULAR if getattr(stat, k.test)(st.st_mode)), "not a regular file")
        raise FileProblem(f"is {kind}, not a regular file", hint="point the catalog at a regular file")


def _size_problem(size: int, limit: int) -> FileProblem:
    return FileProblem(
        f"is {size / 1024 / 1024:.1f} MiB; kvstack reads files up to {limit // 1024 // 1024} MiB",
        hint="this is not a configuration file kvstack should read: check the path",
    )


def read_text(path: Path, *, limit: int = MAX_INPUT_BYTES) -> str | None:
    """The text of ``path`` as found (line endings kept, a UTF-8 BOM kept as :data:`BOM`); None if absent.

    Refused with :class:`FileProblem`: a symbolic link (naming its target), anything but a regular
    file (a FIFO would block forever), a file above ``limit`` bytes, text that is not UTF-8 (with the
    line and column of the first bad byte).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileProblem(f"cannot be read: {exc.strerror}") from exc
    _refuse_special(path, st)
    if st.st_size > limit:
        raise _size_problem(st.st_size, limit)
    try:
        # O_NOFOLLOW and O_NONBLOCK: a link or FIFO swapped in after the lstat fails here instead of hanging.
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileProblem(f"cannot be read: {exc.strerror}") from exc
    with os.fdopen(handle, "rb") as stream:
        _refuse_special(path, os.fstat(stream.fileno()))
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise _size_problem(len(data), limit)
    return decode(data)


def decode(data: bytes) -> str:
    """UTF-8 ``data`` as text, a BOM kept as :data:`BOM`; :class:`FileProblem` with line and column if not UTF-8."""
    body = data[len(_BOM_BYTES) :] if data.startswith(_BOM_BYTES) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        column = exc.start - (body.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FileProblem(
            f"is not UTF-8 text: byte 0x{body[exc.start]:02x} ({exc.reason})",
            line=line,
            column=column,
            hint="save the file as UTF-8",
        ) from exc
    return BOM + text if body is not data else text


def check_writable(path: Path) -> None:
    """Refuse to replace ``path`` if it is a link, not a regular file, or read-only (:class:`FileProblem`).

    A file someone made read-only (no owner write bit) is not overwritten, even by root: the mode says
    a person decided it should not change.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise FileProblem(f"cannot be checked: {exc.strerror}") from exc
    _refuse_special(path, st)
    if not st.st_mode & stat.S_IWUSR:
        mode = stat.S_IMODE(st.st_mode)
        raise FileProblem(
            f"is read-only (mode {mode:04o}); kvstack does not overwrite a file someone made read-only",
            hint=f"make it writable (chmod u+w {path}) and run again, or leave its app out with --app",
        )


def atomic_write(path: Path, text: str, *, mode: int) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename it into place.

    The temporary file has ``mode`` before the first byte is written (a .env with a token is never
    readable by others, not even for a moment); a reader sees the old file or the new one, never half.
    The rename replaces a link itself, never what it points to. ``text`` is written as given (no
    newline translation; a leading :data:`BOM` becomes the UTF-8 BOM).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".kvstack-tmp")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
