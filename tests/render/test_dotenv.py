"""render_env: kvstack's three variables set, everything else in the .env kept."""

from __future__ import annotations

import pytest

from kvstack.errors import WranglerFileError
from kvstack.render import render_env

VALUES = {
    "CLOUDFLARE_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
    "CLOUDFLARE_KV_NAMESPACE_ID": "a" * 32,
}
SECRET = "tok-SECRET-1234"


def test_variables_are_set_in_place_and_other_lines_kept() -> None:
    text = (
        "# chatchonk\n"
        "export CLOUDFLARE_ACCOUNT_ID='old'\n"
        'GREETING="multi\n'
        'line"\n'
        "PORT=8080 # the app's own\n"
        "CLOUDFLARE_KV_NAMESPACE_ID=PLACEHOLDER   # set by kvstack"
    )
    result = render_env(text, VALUES, file=".env")
    assert result.text == (
        "# chatchonk\n"
        "export CLOUDFLARE_ACCOUNT_ID='0123456789abcdef0123456789abcdef'\n"
        'GREETING="multi\n'
        'line"\n'
        "PORT=8080 # the app's own\n"
        f"CLOUDFLARE_KV_NAMESPACE_ID={'a' * 32}   # set by kvstack\n"
    )
    assert [f.kind for f in result.findings] == ["changed-variable", "changed-variable"]


def test_missing_variables_are_appended_and_rendering_twice_changes_nothing() -> None:
    once = render_env("PORT=8080", VALUES, file=".env")
    account = VALUES["CLOUDFLARE_ACCOUNT_ID"]
    assert once.text == f"PORT=8080\nCLOUDFLARE_ACCOUNT_ID={account}\nCLOUDFLARE_KV_NAMESPACE_ID={'a' * 32}\n"
    assert [f.kind for f in once.findings] == ["missing-variable", "missing-variable"]
    twice = render_env(once.text, VALUES, file=".env")
    assert (twice.text, twice.findings) == (once.text, ())


def test_token_value_never_appears_in_findings() -> None:
    result = render_env("CLOUDFLARE_API_TOKEN=old-token\n", {**VALUES, "CLOUDFLARE_API_TOKEN": SECRET}, file=".env")
    assert f"CLOUDFLARE_API_TOKEN={SECRET}\n" in result.text
    messages = " ".join(f.message for f in result.findings)
    assert SECRET not in messages
    assert "old-token" not in messages
    assert "CLOUDFLARE_API_TOKEN differs from the outputs (value hidden)" in messages


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [("PORT=1\n  this is prose\n", 2, 3), ('A="never closed\nB=2\n', 1, 1)],
)
def test_line_that_is_not_dotenv_raises_with_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(WranglerFileError) as caught:
        render_env(text, VALUES, file="apps/x/.env")
    assert (caught.value.file, caught.value.line, caught.value.column) == ("apps/x/.env", line, column)
