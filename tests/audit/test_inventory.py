"""Classification of an account's namespaces against what the stacks declare (pure: no API)."""

from __future__ import annotations

from kvstack.audit.inventory import CONVENTION_RE, Declared, classify
from kvstack.cloudflare import Namespace

A, B, C, D, E = ("a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32)
DECLARED = [
    Declared("dev", "codex", "CACHE_KV", False, "codex-dev-CACHE_KV", A),
    Declared("dev", "codex", "CACHE_KV", True, "codex-dev-CACHE_KV_preview", B),
    Declared("prod", "codex", "CACHE_KV", False, "codex-prod-CACHE_KV", C),
    Declared("prod", "codex", "CACHE_KV", True, "codex-prod-CACHE_KV_preview", None),
]


def test_convention_splits_app_env_binding_and_preview() -> None:
    match = CONVENTION_RE.match("dubai-app-front-dev-CHART_KV_preview")
    assert match is not None
    assert (match["app"], match["env"], match["binding"], bool(match["preview"])) == (
        "dubai-app-front",
        "dev",
        "CHART_KV",
        True,
    )
    assert CONVENTION_RE.match("team scratchpad") is None


def test_each_class_and_its_finding() -> None:
    account = [
        Namespace(A, "codex-dev-CACHE_KV"),  # managed
        Namespace(B, "codex-dev-CACHE_KV-old"),  # retitled
        Namespace(C, "codex-prod-CACHE_KV"),  # another stack's outputs hold it
        Namespace(D, "ledger-dev-BOOKS"),  # convention, nobody declares it
        Namespace(E, "team scratchpad"),
    ]
    records, findings = classify(account, DECLARED, ("dev",))
    classes = {r.title: r.classification for r in records}
    assert classes == {
        "codex-dev-CACHE_KV": "managed",
        "codex-dev-CACHE_KV-old": "retitled",
        "codex-prod-CACHE_KV": "managed-elsewhere",
        "ledger-dev-BOOKS": "adoptable",
        "team scratchpad": "foreign",
    }
    kinds = sorted((f.kind, f.subject) for f in findings)
    assert ("retitled", "codex-dev-CACHE_KV-old") in kinds
    assert ("orphan-twin", "codex-dev-CACHE_KV") in kinds  # its twin now carries another title
    assert ("orphan-twin", "ledger-dev-BOOKS") in kinds
    assert ("orphan-twin", "codex-prod-CACHE_KV") in kinds
    assert not [k for k in kinds if k[0] == "missing"]


def test_a_declared_namespace_absent_from_the_account_is_missing_only_for_audited_stacks() -> None:
    records, findings = classify([Namespace(B, "codex-dev-CACHE_KV_preview")], DECLARED, ("dev",))
    missing = [r for r in records if r.classification == "missing"]
    assert [(r.title, r.id) for r in missing] == [("codex-dev-CACHE_KV", A)]
    assert [f.severity for f in findings if f.kind == "missing"] == ["error"]
