"""The real-world wrangler corpus (../shared/wrangler-corpus) and independent readers for checking renders.

The readers here deliberately share no code with kvstack.render: JSONC is read by stripping comments
and trailing commas with a small scanner and handing the rest to the standard json module; comments
are collected by scanners that know strings, so a render that ate a comment cannot hide it.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kvstack.render import KvBinding, WranglerSpec
from tests.needs import need

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "wrangler-corpus"
NEW_BINDING = "KVSTACK_NEW"
NEW_ENV = "env.kvstacknew"


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    notes: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def format(self) -> str:
        return {".toml": "toml", ".jsonc": "jsonc", ".json": "json"}[self.path.suffix]

    @property
    def parses(self) -> bool:
        return "[parse: FAILED" not in self.notes


def need_corpus() -> None:
    """Skip the calling test when ../shared is absent (a user's clone); in CI that is a failure."""
    need(
        (CORPUS / "PROVENANCE.tsv").is_file(),
        f"the wrangler corpus ({CORPUS})",
        "it comes with the project's shared/ folder, checked out beside the repository (CI has it)",
    )


def corpus_params(files: list[CorpusFile]) -> list[Any]:
    """``files`` as pytest params; without the corpus one param that skips (or fails in CI), never an empty set."""
    if not CORPUS.is_dir():
        return [pytest.param(None, id="corpus-absent")]
    return [pytest.param(f, id=f.name) for f in files]


def corpus_files() -> list[CorpusFile]:
    """Every file of the corpus with its provenance notes (empty when the corpus is absent)."""
    table = CORPUS / "PROVENANCE.tsv"
    if not table.is_file():
        return []
    with table.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    return [CorpusFile(CORPUS / "files" / row["filename"], row["notes"]) for row in rows]


def _skip_blank(text: str, i: int) -> int:
    """The index of the next character that is neither whitespace nor inside a comment."""
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end == -1 else end
        elif text.startswith("/*", i):
            i = text.index("*/", i + 2) + 2
        else:
            break
    return i


def _strip_jsonc(text: str) -> str:
    """JSONC to JSON: comments and trailing commas removed, strings left alone."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i) or text.startswith("/*", i):
            i = _skip_blank(text, i)
        elif ch == "," and text[_skip_blank(text, i + 1) : _skip_blank(text, i + 1) + 1] in ("}", "]"):
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse(text: str, fmt: str) -> dict[str, Any]:
    """The data of a wrangler file, read independently of kvstack.render."""
    if fmt == "toml":
        return tomllib.loads(text)
    data: dict[str, Any] = json.loads(_strip_jsonc(text))
    return data


def comments(text: str, fmt: str) -> list[str]:
    """Every comment of the file, in order, as written (strings are skipped, so `"a # b"` is no comment)."""
    found: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        if fmt == "toml":
            for quote in ('"""', "'''", '"', "'"):
                if text.startswith(quote, i):
                    j = i + len(quote)
                    while not text.startswith(quote, j):
                        j += 2 if (quote[0] == '"' and text[j] == "\\") else 1
                    i = j + len(quote)
                    break
            else:
                if text[i] == "#":
                    end = text.find("\n", i)
                    end = n if end == -1 else end
                    found.append(text[i:end].rstrip())
                    i = end
                else:
                    i += 1
            continue
        if text[i] == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            found.append(text[i:end].rstrip())
            i = end
        elif text.startswith("/*", i):
            end = text.index("*/", i + 2) + 2
            found.append(text[i:end])
            i = end
        else:
            i += 1
    return found


def sections(data: dict[str, Any]) -> list[str]:
    """The sections of a parsed file: the top level and every environment."""
    envs = data.get("env")
    return ["top"] + ([f"env.{name}" for name in envs] if isinstance(envs, dict) else [])


def section_table(data: dict[str, Any], section: str) -> dict[str, Any] | None:
    if section == "top":
        return data
    envs = data.get("env")
    table: dict[str, Any] | None = envs.get(section[len("env.") :]) if isinstance(envs, dict) else None
    return table


def _id(*parts: str) -> str:
    return hashlib.md5("/".join(parts).encode()).hexdigest()


def bindings_for(data: dict[str, Any], section: str, salt: str) -> list[KvBinding]:
    """What the corpus tests render into a section: its first existing kv binding (so an entry is
    replaced and the rest stay unmanaged) and one new binding (so one is added)."""
    table = section_table(data, section) or {}
    existing = [e["binding"] for e in table.get("kv_namespaces", []) if isinstance(e, dict) and "binding" in e]
    names = [*existing[:1], NEW_BINDING]
    return [KvBinding(name, _id(salt, section, name), _id(salt, section, name, "preview")) for name in names]


def specs_for(item: CorpusFile, data: dict[str, Any], salt: str = "a") -> Iterator[tuple[str, WranglerSpec]]:
    """Every section alone, then all sections at once (as a stack owning them all would), then all
    sections and a new environment."""
    all_sections = {s: bindings_for(data, s, salt) for s in sections(data)}
    for section, bindings in all_sections.items():
        yield section, WranglerSpec(format=item.format, sections={section: bindings}, name="corpus")  # type: ignore[arg-type]
    yield "all", WranglerSpec(format=item.format, sections=all_sections, name="corpus")  # type: ignore[arg-type]
    # and as a stack that also owns an environment the file does not have yet
    with_new = {**all_sections, NEW_ENV: bindings_for(data, NEW_ENV, salt)}
    yield "new-env", WranglerSpec(format=item.format, sections=with_new, name="corpus")  # type: ignore[arg-type]


def without_managed(data: dict[str, Any], spec: WranglerSpec) -> dict[str, Any]:
    """``data`` minus the kv entries ``spec`` manages (and kv_namespaces lists left empty by that)."""
    result = copy.deepcopy(data)
    for section, bindings in spec.sections.items():
        table = section_table(result, section)
        if table is None or "kv_namespaces" not in table:
            continue
        managed = {b.binding for b in bindings}
        kept = [e for e in table["kv_namespaces"] if e.get("binding") not in managed]
        if kept:
            table["kv_namespaces"] = kept
        else:
            del table["kv_namespaces"]
        # an environment that held only managed entries (or that render created) is pruned on both sides
        if section != "top" and not table:
            del result["env"][section[len("env.") :]]
            if not result["env"]:
                del result["env"]
    return result


def managed_entries(data: dict[str, Any], spec: WranglerSpec) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The managed kv entries of every section, by (section, binding)."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for section, bindings in spec.sections.items():
        table = section_table(data, section) or {}
        for binding in bindings:
            found[(section, binding.binding)] = [
                e for e in table.get("kv_namespaces", []) if e.get("binding") == binding.binding
            ]
    return found
