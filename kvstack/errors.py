"""Every error kvstack raises on purpose, and the exit code each one means.

    KvstackError                      exit 2 unless stated
    ├── UsageError                    a command line that cannot be acted on
    ├── CatalogError                  Pulumi.yaml / Pulumi.<stack>.yaml / keyspaces/ are wrong
    │   └── CatalogProblems           several of them at once (validate lists every problem)
    ├── OutputsError                  the outputs document is missing or does not match its schema
    ├── WranglerFileError             an app's wrangler file or .env does not parse
    ├── CloudflareError               the Cloudflare API (real or local) refused or failed
    │   ├── AuthenticationError       wrong or missing token (Cloudflare 10000, HTTP 401/403)
    │   └── RateLimitedError          429 after every retry the budget allowed
    ├── LocalCloudflareError          the local Cloudflare is not running or did not start
    ├── ProgramError                  the Pulumi program of infra/ failed while kvstack evaluated it
    └── DriftError                    exit 1: a file or an account differs from what is declared

Low-level errors (yaml, json, httpx, the SDK's) are re-raised as one of these at the boundary
with ``raise X(...) from exc``; the CLI prints ``str(error)`` to stderr and exits with ``exit_code``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "AuthenticationError",
    "CatalogError",
    "CatalogProblems",
    "CloudflareError",
    "DriftError",
    "KvstackError",
    "LocalCloudflareError",
    "OutputsError",
    "ProgramError",
    "RateLimitedError",
    "UsageError",
    "WranglerFileError",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


class KvstackError(Exception):
    """Base of every deliberate kvstack error: a message for people and an exit code."""

    exit_code: int = EXIT_CONFIG

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")


class UsageError(KvstackError):
    """The command line names something that does not exist or combines options that do not go together."""


class CatalogError(KvstackError):
    """The catalog is invalid. ``location`` is ``file:line:column`` and ``yaml_path`` the dotted path inside it."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        yaml_path: str = "",
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.yaml_path = yaml_path
        self.line = line
        self.column = column
        where = file if line is None else f"{file}:{line}:{column or 1}"
        at = f" at {yaml_path}" if yaml_path else ""
        super().__init__(f"{where}{at}: {message}", hint=hint)


class CatalogProblems(CatalogError):
    """Every problem found in one pass, each a :class:`KvstackError` with its own file:line.

    Its ``file``, ``line`` and ``yaml_path`` are those of the first problem, so code that handles one
    CatalogError still points somewhere real; its text lists them all.
    """

    def __init__(self, problems: Sequence[KvstackError]) -> None:
        if not problems:
            raise ValueError("CatalogProblems needs at least one problem")
        self.problems = tuple(problems)
        first = problems[0]
        if isinstance(first, CatalogError):
            super().__init__(
                first.message, file=first.file, yaml_path=first.yaml_path, line=first.line, column=first.column
            )
        else:
            super().__init__(first.message, file=getattr(first, "file", "?"))
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        text = "\n".join(str(problem) for problem in problems)
        Exception.__init__(self, f"{count}:\n{text}" if len(problems) > 1 else text)


class OutputsError(KvstackError):
    """The outputs document could not be found, read or validated."""


class WranglerFileError(KvstackError):
    """An app's wrangler file or .env file does not parse; it was left untouched."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        where = file if line is None else f"{file}:{line}:{column or 1}"
        super().__init__(f"{where}: {message}", hint=hint)


class CloudflareError(KvstackError):
    """The Cloudflare API answered with an error envelope or could not be reached."""

    def __init__(
        self, message: str, *, status: int | None = None, codes: tuple[int, ...] = (), hint: str | None = None
    ) -> None:
        self.status = status
        self.codes = codes
        super().__init__(message, hint=hint)


class AuthenticationError(CloudflareError):
    """The token is wrong, expired or lacks the permission the request needs."""


class RateLimitedError(CloudflareError):
    """Cloudflare kept answering 429 beyond the retries allowed."""


class LocalCloudflareError(KvstackError):
    """The local Cloudflare is not running, did not start, or its state folder is unusable."""


class ProgramError(KvstackError):
    """The Pulumi program failed in-process (kvstack plan, local apply) for a reason that is not a KvstackError."""


class DriftError(KvstackError):
    """What exists differs from what is declared (render --check, audit)."""

    exit_code = EXIT_FAILED
