"""The format-independent half of a merge: what a file must mean after rendering, and what is wrong now.

Both work on the parsed data of a wrangler file (plain dicts and lists), so TOML and JSONC share them:
:func:`inspect` finds drift for ``--check`` and the post-deploy checks, and :func:`expected_data` is
the meaning the rendered text must parse back to. Every renderer re-parses its own output and
compares it with :func:`expected_data` before returning (:func:`verify`), so a style-preserving
editor can never silently change anything else.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

from kvstack import names
from kvstack.errors import WranglerFileError
from kvstack.render._model import Finding, KvBinding, WranglerSpec, section_label

__all__ = [
    "expected_data",
    "inspect",
    "kv_entries",
    "refuse_duplicate_bindings",
    "section_table",
    "sections_of",
    "verify",
]

KV_KEY = "kv_namespaces"


def section_table(data: dict[str, Any], section: str, *, file: str) -> dict[str, Any] | None:
    """The table of ``section`` ("top" or "env.<name>") in ``data``, None when the file has none."""
    if section == names.WRANGLER_TOP_SECTION:
        return data
    env_name = _env_name(section)
    envs = data.get("env")
    if envs is None:
        return None
    if not isinstance(envs, dict):
        raise WranglerFileError("`env` is not a table of environments", file=file)
    table = envs.get(env_name)
    if table is None:
        return None
    if not isinstance(table, dict):
        raise WranglerFileError(f"`env.{env_name}` is not a table", file=file)
    return table


def kv_entries(table: dict[str, Any] | None, section: str, *, file: str) -> list[dict[str, Any]]:
    """The `kv_namespaces` entries of a section's table (empty when there are none)."""
    if table is None or KV_KEY not in table:
        return []
    entries = table[KV_KEY]
    where = section_label(section)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise WranglerFileError(
            f"`kv_namespaces` in the {where} is not an array of tables",
            file=file,
            hint="wrangler expects kv_namespaces = [{ binding = ..., id = ... }, ...]",
        )
    return entries


def inspect(data: dict[str, Any], spec: WranglerSpec, *, file: str) -> list[Finding]:
    """Everything about ``data`` that differs from ``spec``, one finding each, in file order."""
    findings: list[Finding] = []
    if spec.pages and "pages_build_output_dir" in data:
        findings.append(
            Finding(
                "pages-build-output-dir",
                "warning",
                "the file sets pages_build_output_dir, so wrangler treats it as the source of truth for this "
                "Pages project's bindings; Pulumi owns them (deployment_configs): remove the key",
                file=file,
            )
        )
    for section, bindings in spec.sections.items():
        table = section_table(data, section, file=file)
        entries = kv_entries(table, section, file=file)
        where = section_label(section)
        managed = {b.binding: b for b in bindings}
        by_name: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            by_name.setdefault(str(entry.get("binding")), []).append(entry)
        for binding in bindings:
            found = by_name.get(binding.binding, [])
            if not found:
                missing = (
                    f"{binding.binding} is missing from the {where}"
                    if table is not None
                    else f"{binding.binding} is missing: the file has no {where} section "
                    "(wrangler does not inherit kv_namespaces into environments)"
                )
                findings.append(Finding("missing-binding", "error", missing, binding=binding.binding, section=section))
                continue
            findings.extend(_entry_findings(found[0], binding, section, where))
        for entry in entries:
            name = entry.get("binding")
            if name in managed:
                continue
            findings.append(
                Finding(
                    "unmanaged-binding",
                    "warning",
                    f"kv binding {name} in the {where} is not declared in the catalog; left as it is",
                    binding=str(name),
                    section=section,
                )
            )
            for key in ("id", "preview_id"):
                if key in entry and not names.is_namespace_id(entry[key]):
                    findings.append(
                        Finding(
                            "placeholder",
                            "warning",
                            f"{key} of unmanaged kv binding {name} in the {where} is the placeholder {entry[key]!r}",
                            binding=str(name),
                            section=section,
                        )
                    )
    return [_with_file(f, file) for f in findings]


def sections_of(data: dict[str, Any]) -> list[str]:
    """Every section the file has: ``top`` and ``env.<name>`` for each environment table."""
    envs = data.get("env")
    names_ = [str(name) for name, table in envs.items() if isinstance(table, dict)] if isinstance(envs, dict) else []
    return [names.WRANGLER_TOP_SECTION, *(f"env.{name}" for name in names_)]


def refuse_duplicate_bindings(data: dict[str, Any], text: str, *, file: str) -> None:
    """WranglerFileError (exit 2, with the line) when a section binds one kv name twice: wrangler refuses it."""
    for section in sections_of(data):
        counts: dict[str, int] = {}
        for entry in kv_entries(section_table(data, section, file=file), section, file=file):
            name = entry.get("binding")
            if isinstance(name, str):
                counts[name] = counts.get(name, 0) + 1
        for name, count in counts.items():
            if count < 2:
                continue
            pattern = re.compile(r"""["']?binding["']?\s*[=:]\s*["']""" + re.escape(name) + r"""["']""")
            lines = [
                text.count("\n", 0, m.start()) + 1
                for m in pattern.finditer(text)
                if _toml_section_at(text, m.start()) in (section, None)
            ]
            at = f"; `binding` {name} is written at lines {', '.join(map(str, lines))}" if lines else ""
            raise WranglerFileError(
                f"kv binding {name} is declared {count} times in the {section_label(section)}{at}; "
                "wrangler refuses such a file, so kvstack does not write it",
                file=file,
                line=lines[1] if len(lines) > 1 else None,
                hint=f"keep one `kv_namespaces` entry for {name} in the {section_label(section)}",
            )


_TOML_HEADER = re.compile(r"^[ \t]*\[\[?[ \t]*([^\]\n]*?)[ \t]*\]", re.MULTILINE)


def _toml_section_at(text: str, position: int) -> str | None:
    """The section a TOML line belongs to, from the last table header above it; None for JSON text."""
    if "=" not in text[text.rfind("\n", 0, position) + 1 : position + 12]:
        return None  # `"binding": …` is JSON: sections are nested objects, every occurrence is listed
    headers = [m.group(1).replace('"', "").replace("'", "") for m in _TOML_HEADER.finditer(text, 0, position)]
    parts = headers[-1].split(".") if headers else []
    return f"env.{parts[1]}" if len(parts) >= 2 and parts[0] == "env" else names.WRANGLER_TOP_SECTION


def _entry_findings(entry: dict[str, Any], binding: KvBinding, section: str, where: str) -> list[Finding]:
    findings = []
    wanted = {"id": binding.id, "preview_id": binding.preview_id}
    for key, want in wanted.items():
        if want is None:
            continue
        have = entry.get(key)
        label = f"{key} of {binding.binding} in the {where}"
        if have is None:
            kind = "missing-preview-id" if key == "preview_id" else "missing-id"
            findings.append(_error(kind, f"{label} is missing; the outputs say {want}", binding.binding, section))
        elif not names.is_namespace_id(have):
            findings.append(
                Finding(
                    "placeholder",
                    "error",
                    f"{label} is the placeholder {have!r}; the outputs say {want}",
                    binding=binding.binding,
                    section=section,
                )
            )
        elif have != want:
            kind = "changed-preview-id" if key == "preview_id" else "changed-id"
            findings.append(_error(kind, f"{label} is {have}; the outputs say {want}", binding.binding, section))
    return findings


def _error(kind: str, message: str, binding: str, section: str) -> Finding:
    return Finding(kind, "error", message, binding=binding, section=section)


def _with_file(finding: Finding, file: str) -> Finding:
    if finding.file is not None:
        return finding
    return dataclasses.replace(finding, file=file)


def expected_data(data: dict[str, Any], spec: WranglerSpec, *, file: str) -> dict[str, Any]:
    """What ``data`` must become: managed entries carry the outputs' ids, missing ones are appended."""
    result = copy.deepcopy(data)
    for section, bindings in spec.sections.items():
        if not bindings:
            continue
        table = section_table(result, section, file=file)
        if table is None:
            table = result.setdefault("env", {}).setdefault(_env_name(section), {})
        entries = kv_entries(table, section, file=file)
        table[KV_KEY] = entries
        present = set()
        managed = {b.binding: b for b in bindings}
        for entry in entries:
            binding = managed.get(entry.get("binding"))  # type: ignore[arg-type]
            if binding is None:
                continue
            present.add(binding.binding)
            entry["id"] = binding.id
            if binding.preview_id is not None:
                entry["preview_id"] = binding.preview_id
        for binding in bindings:
            if binding.binding not in present:
                entries.append(new_entry(binding))
    return result


def new_entry(binding: KvBinding) -> dict[str, str]:
    """A fresh `kv_namespaces` entry, keys in the order wrangler's docs write them."""
    entry = {"binding": binding.binding, "id": binding.id}
    if binding.preview_id is not None:
        entry["preview_id"] = binding.preview_id
    return entry


def verify(old: dict[str, Any], new: dict[str, Any], spec: WranglerSpec, *, file: str) -> None:
    """Refuse a rendered text that means anything but :func:`expected_data` of the original."""
    if new != expected_data(old, spec, file=file):
        raise WranglerFileError(
            "kvstack could not merge the bindings without changing something else; the file was left untouched",
            file=file,
            hint="this is a kvstack bug: report it with the file; meanwhile edit kv_namespaces by hand",
        )


def _env_name(section: str) -> str:
    if not section.startswith("env.") or len(section) <= len("env."):
        raise ValueError(f"not a wrangler section: {section!r} (expected 'top' or 'env.<name>')")
    return section[len("env.") :]
