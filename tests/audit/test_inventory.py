"""Classification of an account's namespaces against what the stacks declare (pure: no API)."""

from __future__ import annotations

from datetime import UTC, datetime

from kvstack.audit.account import TokenState
from kvstack.audit.inventory import CONVENTION_RE, Declared, classify, token_findings
from kvstack.cloudflare import Namespace
from kvstack.outputs import Outputs, TokenOutputs

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


def _outputs(expires_on: str) -> Outputs:
    return Outputs(
        project="kvstack",
        stack="dev",
        environment="dev",
        account_id=A,
        apps={},
        tokens={
            "deploy": TokenOutputs("deploy", B, "kvstack-dev-deploy", "deploy", None, (), expires_on),
        },
        source="test",
    )


def _verified(**details: str) -> dict[str, TokenState]:
    return {"deploy": TokenState(dict(details), "verified")}


def test_tokens_expired_or_expiring_are_found_from_live_details_first() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    live_expired = _verified(status="expired", expires_on="2026-11-29T00:00:00Z")
    (expired,) = token_findings(_outputs("2027-01-01T00:00:00Z"), live_expired, 14, now)
    assert (expired.kind, expired.severity) == ("token-expired", "error")
    live_soon = _verified(status="active", expires_on="2026-12-05T00:00:00Z")
    (soon,) = token_findings(_outputs("2027-01-01T00:00:00Z"), live_soon, 14, now)
    assert soon.kind == "token-expiring"
    assert token_findings(_outputs("2027-01-01T00:00:00Z"), _verified(status="active"), 14, now) == []


def test_a_token_cloudflare_refuses_or_disabled_is_an_error() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    refused = {"deploy": TokenState(None, "verified", rejected="HTTP 401: Invalid API Token")}
    (finding,) = token_findings(_outputs("2027-01-01T00:00:00Z"), refused, 14, now)
    assert (finding.kind, finding.severity) == ("token-rejected", "error")
    assert "Invalid API Token" in finding.message
    (disabled,) = token_findings(_outputs("2027-01-01T00:00:00Z"), _verified(status="disabled"), 14, now)
    assert disabled.kind == "token-rejected"


def test_a_token_the_audit_may_not_read_is_judged_by_the_outputs_and_says_so() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    unread = {"deploy": TokenState(None, "unread")}
    kinds = [f.kind for f in token_findings(_outputs("2026-11-01T00:00:00Z"), unread, 14, now)]
    assert kinds == ["token-unverified", "token-expired"]


def test_a_stack_without_outputs_is_judged_by_titles() -> None:
    records, _ = classify([Namespace(D, "codex-prod-CACHE_KV_preview")], DECLARED, ("prod",))
    classes = {r.title: r.classification for r in records}
    assert classes["codex-prod-CACHE_KV_preview"] == "adoptable"  # its stack declares it, no outputs hold it
    assert classes["codex-prod-CACHE_KV"] == "missing"  # its declared id is not in the account
