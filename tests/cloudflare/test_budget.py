"""Budget: what a run spent, counted only for what succeeded."""

from __future__ import annotations

import httpx
import pytest

from kvstack.cloudflare import Budget
from kvstack.errors import CloudflareError
from tests.cloudflare.conftest import NS, adapter
from tests.fakecloudflare import ACCOUNT, FakeCloudflare, VirtualClock


def test_budget_counts_only_successful_kv_operations() -> None:
    budget = Budget()
    request = httpx.Request("POST", f"http://x/accounts/{ACCOUNT}/storage/kv/namespaces/{NS}/bulk/get")
    budget.count_kv(request, b'{"keys": ["a", "b"]}')
    budget.count_kv(httpx.Request("GET", f"http://x/accounts/{ACCOUNT}/storage/kv/namespaces/{NS}/keys"), b"")
    budget.count_kv(httpx.Request("GET", f"http://x/accounts/{ACCOUNT}/pages/projects/p"), b"")
    assert budget.snapshot()["kv_reads"] == 2
    assert budget.snapshot()["kv_lists"] == 1


def test_a_failed_kv_request_spends_a_request_but_no_kv_operation(fake: FakeCloudflare, clock: VirtualClock) -> None:
    with adapter(fake, clock) as api, pytest.raises(CloudflareError, match="HTTP 404: 10013 namespace not found"):
        api.bulk_get("0" * 32, ["a", "b"])
    assert api.budget.snapshot()["api_requests"] == 1
    assert api.budget.snapshot()["kv_reads"] == 0
