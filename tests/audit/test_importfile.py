"""The import document: a type token pulumi-cloudflare really registers, ids that parse back, the program's names."""

from __future__ import annotations

from pathlib import Path

from pulumi_cloudflare.workers_kv_namespace import WorkersKvNamespace

from kvstack.audit.importfile import KV_NAMESPACE_TYPE, import_id, namespace_id_of, plan_adoption
from kvstack.audit.inventory import NamespaceRecord
from kvstack.catalog import load_catalog
from kvstack.plan import plan

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "fedcba9876543210fedcba9876543210"
NAMESPACE = "5f1e2d3c4b5a69788796a5b4c3d2e1f0"
PREVIEW = "0123456789abcdef0123456789abcdef"


def _adoptable(title: str, namespace_id: str, app: str, binding: str, preview: bool) -> NamespaceRecord:
    return NamespaceRecord(namespace_id, title, "adoptable", "prod", app, binding, preview, title)


def test_the_type_token_is_the_one_the_installed_pulumi_cloudflare_registers() -> None:
    assert WorkersKvNamespace.pulumi_type == KV_NAMESPACE_TYPE  # type: ignore[attr-defined]


def test_import_ids_parse_back() -> None:
    assert namespace_id_of(import_id(ACCOUNT, NAMESPACE)) == (ACCOUNT, NAMESPACE)
    for broken in ("no-slash", "/x", "a/", "a/b/c"):
        try:
            namespace_id_of(broken)
        except ValueError:
            continue
        raise AssertionError(f"{broken!r} parsed")


def test_import_names_are_the_names_the_program_gives_those_namespaces() -> None:
    catalogs = {stack: load_catalog(ROOT, stack) for stack in ("dev", "prod")}
    records = [
        _adoptable("codex-prod-CACHE_KV", NAMESPACE, "codex", "CACHE_KV", False),
        _adoptable("codex-prod-CACHE_KV_preview", PREVIEW, "codex", "CACHE_KV", True),
    ]
    adoption = plan_adoption(ACCOUNT, records, catalogs)
    planned = {r.title: r.name for r in plan(ROOT, "prod").custom_resources() if r.type == KV_NAMESPACE_TYPE}
    for resource in adoption.document["resources"]:
        account, namespace_id = namespace_id_of(resource["id"])
        record = next(r for r in records if r.id == namespace_id)
        assert account == ACCOUNT
        assert planned[record.title] == resource["name"], (record.title, resource["name"])
    assert adoption.catalog_lines["prod"] == (
        "config:\n  kvstack:apps:\n    codex:\n      adopt:\n        CACHE_KV:\n"
        f"          id: {NAMESPACE}\n          preview_id: {PREVIEW}\n"
    )
    assert adoption.notes == []


def test_a_namespace_of_no_declared_app_is_imported_with_a_note_and_no_adopt_line() -> None:
    catalogs = {"dev": load_catalog(ROOT, "dev")}
    record = NamespaceRecord(NAMESPACE, "ledger-dev-BOOKS", "adoptable", None, "ledger", "BOOKS", False)
    adoption = plan_adoption(ACCOUNT, [record], catalogs)
    assert adoption.document["resources"][0]["name"] == "ledger-BOOKS"
    assert adoption.catalog_lines == {}
    assert "declare it in the catalog" in adoption.notes[0]
