"""`kvstack audit --local` on an account a user shares between stacks: --all-stacks, empty namespaces,
reads nobody explains, and a token that expired in the account while the outputs still call it valid.

One `kvstack local up --stack dev` for the module, of a copy of the project whose prod stack lives in the same
account as dev (a user's choice the catalog allows). prod is declared but not deployed on this target.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.audit.localstack import Local, local_up

pytestmark = [pytest.mark.runtime, pytest.mark.slow]


def _same_account(root: Path) -> None:
    dev = (root / "Pulumi.dev.yaml").read_text()
    account = next(line.split(":", 2)[2].strip() for line in dev.splitlines() if "kvstack:account_id:" in line)
    prod = root / "Pulumi.prod.yaml"
    lines = prod.read_text().splitlines(keepends=True)
    shared = "".join(f"  kvstack:account_id: {account}\n" if "kvstack:account_id:" in ln else ln for ln in lines)
    prod.write_text(shared)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    with local_up(tmp_path_factory.mktemp("audit-account") / "project", _same_account) as running:
        yield running


def _create(local: Local, title: str) -> str:
    return str(local.sdk().kv.namespaces.create(account_id=local.state.account_id, title=title).id)


def _put(local: Local, namespace: str, key: str, value: bytes = b"v") -> None:
    local.sdk().kv.namespaces.values.with_raw_response.update(
        key, account_id=local.state.account_id, namespace_id=namespace, value=value
    )


def _findings(report: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {f["subject"]: f for f in report["findings"] if f["kind"] == kind}


def _namespace(report: dict[str, Any], title: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in report["namespaces"] if n["title"] == title)
    return found


def test_all_stacks_judges_every_stack_of_the_account_and_says_what_it_could_not_read(local: Local) -> None:
    by_hand = _create(local, "pickmyclass-prod-KV")  # prod's title, created with the dashboard, not by Pulumi
    one = local.audit()
    assert one["stacks"] == ["dev"]
    assert not any(f["details"].get("stack") == "prod" for f in one["findings"] if f["kind"] == "missing")
    every = local.audit(all_stacks=True)
    assert every["stacks"] == ["dev", "prod"]
    (unaudited,) = _findings(every, "stack-unaudited").values()
    assert unaudited["subject"] == "stack prod"
    assert "outputs cannot be read" in unaudited["message"]
    missing = _findings(every, "missing")
    assert "codex-prod-CACHE_KV" in missing
    assert "codex-prod-CACHE_KV_preview" in missing
    assert "pickmyclass-prod-KV" not in missing  # a namespace of that title stands for it
    adoptable = _namespace(every, "pickmyclass-prod-KV")
    assert (adoptable["id"], adoptable["classification"], adoptable["stack"]) == (by_hand, "adoptable", "prod")
    assert {n["classification"] for n in every["namespaces"] if n["stack"] == "dev"} == {"managed"}
    assert every["exit_code"] == 1


def test_a_namespace_without_keys_or_operations_over_the_window_is_empty(local: Local) -> None:
    untouched = _create(local, "team empty")
    churned = _create(local, "team churn")  # a key written and deleted: no keys left, but operations
    _put(local, churned, "draft")
    local.sdk().kv.namespaces.values.with_raw_response.delete(
        "draft", account_id=local.state.account_id, namespace_id=churned
    )
    report = local.audit(days=7)
    empty = _findings(report, "empty")
    assert "team empty" in empty
    assert empty["team empty"]["namespace_id"] == untouched
    assert "for 7 days" in empty["team empty"]["message"]
    assert "team churn" not in empty
    churn = _namespace(report, "team churn")
    assert churn["statistics"]["keys"] == 0
    assert (churn["operations"]["write"], churn["operations"]["delete"]) == (1, 1)


def test_reads_no_app_and_no_scan_explains_are_found(local: Local) -> None:
    reader, quiet = _create(local, "team reader"), _create(local, "team quiet")
    for namespace in (reader, quiet):
        for key in ("a", "b", "c"):
            _put(local, namespace, key)
    sdk = local.sdk()
    for _ in range(40):  # a script nobody declared reads the namespace with its own token
        for key in ("a", "b", "c"):
            sdk.kv.namespaces.values.with_raw_response.get(key, account_id=local.state.account_id, namespace_id=reader)
    local.audit()  # an earlier audit: its list and reads must not count against the namespaces
    report = local.audit()
    unexplained = _findings(report, "unexplained-operations")
    assert unexplained["team reader"]["details"]["unexplained_reads"] == 120
    assert unexplained["team quiet"]["details"]["unexplained_reads"] == 0
    assert unexplained["team quiet"]["details"]["operations"]["read"] >= 3  # the audits did read it
    assert "120 reads beyond what key scans explain" in unexplained["team reader"]["message"]


def test_a_token_expired_in_the_account_is_found_though_the_outputs_call_it_valid(local: Local) -> None:
    sdk, account = local.sdk(), local.state.account_id
    tokens = local.document["tokens"]
    deploy = next(t for t in tokens.values() if t["role"] == "deploy")
    runtime = next(t for t in tokens.values() if t["role"] == "runtime")
    soon = datetime.now(UTC) + timedelta(seconds=2)
    # A user edits the tokens in the dashboard: deploy now expires in 2 s, runtime in 3 days.
    for token, expires in ((deploy, soon), (runtime, datetime.now(UTC) + timedelta(days=3))):
        live = sdk.accounts.tokens.get(token["id"], account_id=account)
        sdk.accounts.tokens.with_raw_response.update(
            token["id"],
            account_id=account,
            name=live.name or token["name"],
            policies=[p.model_dump(exclude_none=True) for p in live.policies or []],  # type: ignore[misc]
            expires_on=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    while datetime.now(UTC) <= soon + timedelta(seconds=1):
        time.sleep(0.2)
    assert datetime.fromisoformat(deploy["expires_on"].replace("Z", "+00:00")) > datetime.now(UTC) + timedelta(days=30)
    report = local.audit()
    expired = _findings(report, "token-expired")
    assert list(expired) == [deploy["name"]]
    assert expired[deploy["name"]]["severity"] == "error"
    assert _findings(report, "token-expiring").keys() == {runtime["name"]}
    assert report["exit_code"] == 1
