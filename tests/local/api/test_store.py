"""The API's own state file: a bad record is skipped with a warning, an unreadable file is set aside; the API
keeps serving either way (it used to answer 500 on every token list until `local reset`)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from kvstack.local.api import Settings, asgi_app
from tests.local.api.conftest import ACCOUNT


def token_list(state: Path) -> httpx.Response:
    app = asgi_app(Settings(state=state, account_id=ACCOUNT, storage_url="http://127.0.0.1:9"))
    token = (state / "bootstrap-token").read_text().strip()

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return await client.get("/client/v4/user/tokens", headers={"Authorization": f"Bearer {token}"})

    return asyncio.run(call())


def test_a_stored_token_with_a_date_only_expiry_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert token_list(tmp_path).status_code == 200
    state = json.loads((tmp_path / "account.json").read_text())
    good = next(iter(state["tokens"].values()))
    state["tokens"]["bad"] = {**good, "id": "bad", "name": "bad", "expires_on": "2027-11-30"}
    state["namespaces"]["broken"] = {"id": "broken"}
    (tmp_path / "account.json").write_text(json.dumps(state))
    with caplog.at_level(logging.WARNING, logger="kvstack.local.api"):
        answer = token_list(tmp_path)
    assert answer.status_code == 200, answer.text
    assert "bad" not in [t["id"] for t in answer.json()["result"]]
    assert "skipping token 'bad'" in caplog.text
    assert "skipping namespace 'broken'" in caplog.text


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff"])
def test_an_unreadable_state_file_is_set_aside_not_fatal(tmp_path: Path, content: str) -> None:
    (tmp_path / "account.json").write_text(content, encoding="latin-1")
    assert token_list(tmp_path).status_code == 200
    assert [p.name for p in tmp_path.glob("account.json.unreadable-*")]
