"""What rendering takes and gives: bindings per section, findings, and the plan for one file."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kvstack import names
from kvstack.render._envlines import mask_env

__all__ = [
    "MASK",
    "FileKind",
    "FilePlan",
    "Finding",
    "KvBinding",
    "Rendered",
    "Severity",
    "WranglerSpec",
    "section_label",
]

Severity = Literal["error", "warning", "info"]
FileKind = Literal["wrangler", "env"]
WranglerFormat = Literal["toml", "jsonc", "json"]

# What a secret looks like in diffs, --stdout and reports.
MASK = "********"


@dataclass(frozen=True)
class KvBinding:
    """One `kv_namespaces` entry kvstack manages: the binding name and its namespace ids.

    ``preview_id`` None means "leave whatever preview id the file has" (``--bind B=ID`` without one).
    """

    binding: str
    id: str
    preview_id: str | None = None


@dataclass(frozen=True)
class WranglerSpec:
    """What one wrangler file must carry: for every section the stack owns, its bindings in full.

    ``sections`` maps ``"top"`` or ``"env.<name>"`` to the bindings written there. ``name`` is the
    worker name put in a file that has to be created. ``pages`` asks for the warning about
    ``pages_build_output_dir`` (Pulumi owns a Pages project's bindings).
    """

    format: WranglerFormat
    sections: Mapping[str, Sequence[KvBinding]]
    name: str = "app"
    pages: bool = False


@dataclass(frozen=True)
class Finding:
    """Something about a file worth telling: drift (error), a leftover to look at (warning), or news (info)."""

    kind: str
    severity: Severity
    message: str
    app: str | None = None
    binding: str | None = None
    section: str | None = None
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "app": self.app,
            "file": self.file,
            "section": self.section,
            "binding": self.binding,
            "message": self.message,
        }


@dataclass(frozen=True)
class Rendered:
    """The text a renderer produced and what it found in the text it started from."""

    text: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class FilePlan:
    """One file render would write: where, what is there now, what it would hold, and the findings.

    ``old_text`` is the file's current text, None when it does not exist. ``seed`` is the file the
    render started from when that is not ``path`` itself (``--into``: the project's own file).
    ``secrets`` are values that must never be shown; :meth:`masked` and :meth:`diff` hide them.
    """

    path: Path
    relpath: str
    kind: FileKind
    format: str
    app: str | None
    # Not in repr: a .env holds the token, and reprs end up in logs and test reports.
    old_text: str | None = field(repr=False)
    new_text: str = field(repr=False)
    findings: tuple[Finding, ...] = ()
    seed: Path | None = None
    mode: int | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def created(self) -> bool:
        return self.old_text is None

    @property
    def changed(self) -> bool:
        return self.old_text != self.new_text

    @property
    def drifted(self) -> bool:
        """True when the file differs from what is declared: the `--check` and post-deploy verdict.

        A missing .env is not drift: it is never committed, so CI cannot hold one.
        """
        if any(f.severity == "error" for f in self.findings):
            return True
        if self.kind == "env" and self.old_text is None:
            return False
        return self.changed

    @property
    def status(self) -> str:
        if self.created:
            return "created"
        return "updated" if self.changed else "unchanged"

    def masked(self, text: str) -> str:
        """``text`` with every secret value replaced by :data:`MASK`."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, MASK)
        if self.kind == "env":  # every value but kvstack's ids, whatever its quoting and however many lines
            text = mask_env(text, MASK)
        return text

    def diff(self) -> str:
        """A unified diff from the current file to the rendered one, secrets masked ("" when equal)."""
        if not self.changed:
            return ""
        old = self.masked(self.old_text or "")
        new = self.masked(self.new_text)
        before = f"a/{self.relpath}" if self.old_text is not None else "/dev/null"
        after = f"b/{self.relpath}"
        if old == new:  # only a secret changed: say so without showing either value
            return f"--- {before}\n+++ {after}\n@@ a secret value differs (both hidden) @@\n"
        lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), before, after)
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def section_label(section: str) -> str:
    """How a section is named to people: ``top level`` or ``[env.staging]``."""
    return "top level" if section == names.WRANGLER_TOP_SECTION else f"[{section}]"
