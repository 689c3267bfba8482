"""`kvstack render` on hostile or unlucky files: links, FIFOs, read-only files, odd encodings, absurd sizes.

Every case: exit 2 with file (and line where there is one) and what to do, no traceback, and every file
byte-identical afterwards; or, for what is merely unusual (CRLF, a BOM), a render that keeps it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kvstack.render import MASK
from tests.cli.conftest import ROOT, invoke
from tests.render.conftest import TOKEN_VALUE, copy_project, hex_id, outputs_document, write_outputs

A = "a" * 32
CODEX = "apps/codex/wrangler.toml"
PICK = "apps/pickmyclass/wrangler.jsonc"
ENV = "apps/chatchonk-api/.env"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = copy_project(tmp_path / "project")
    write_outputs(root / "dev.outputs.json", outputs_document(root, "dev"))
    return root


def render(project: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return invoke(
        "render", "--stack", "dev", "--root", str(project), "--outputs", str(project / "dev.outputs.json"), *args,
        capsys=capsys,
    )  # fmt: skip


def tree(project: Path) -> dict[str, bytes | str]:
    """Every entry under apps/: bytes of regular files, the target of links, the kind of anything else."""
    found: dict[str, bytes | str] = {}
    for path in sorted((project / "apps").rglob("*")):
        key = str(path.relative_to(project))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_file():
            found[key] = path.read_bytes()
        elif not path.is_dir():
            found[key] = "special"
    return found


def test_env_file_that_is_a_link_to_the_tracked_example_is_refused_and_nothing_is_written(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = project / ENV
    env.symlink_to(".env.example")
    before = tree(project)
    code, out, err = render(project, capsys, "--app", "chatchonk-api", "--with-secrets")
    assert code == 2
    assert f"{ENV}: is a symbolic link to .env.example; kvstack never reads or writes through a link" in err
    assert TOKEN_VALUE not in out + err
    assert tree(project) == before
    assert stat.S_IMODE((project / "apps/chatchonk-api/.env.example").stat().st_mode) != 0o600


def test_file_option_on_a_link_is_refused_and_the_link_stays_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "real.toml"
    target.write_text('name = "x"\n')
    link = tmp_path / "wrangler.toml"
    link.symlink_to(target)
    code, _, err = invoke("render", "--file", str(link), "--bind", f"KV={A}", capsys=capsys)
    assert code == 2
    assert f"is a symbolic link to {target}" in err
    assert link.is_symlink()
    assert target.read_text() == 'name = "x"\n'


def test_a_fifo_in_place_of_a_wrangler_file_is_refused_at_once(project: Path) -> None:
    path = project / CODEX
    path.unlink()
    os.mkfifo(path)
    # a subprocess with a timeout: the bug this guards against is a render that blocks forever
    result = subprocess.run(
        [sys.executable, "-m", "kvstack", "render", "--stack", "dev", "--root", str(project), "--outputs",
         str(project / "dev.outputs.json"), "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"{CODEX}: is a FIFO (named pipe), not a regular file" in result.stderr
    assert stat.S_ISFIFO(path.lstat().st_mode)


def test_a_read_only_file_is_not_overwritten_and_no_other_file_changes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / CODEX
    path.chmod(0o444)
    before = tree(project)
    code, _, err = render(project, capsys)
    assert code == 2
    assert f"{CODEX}: is read-only (mode 0444); kvstack does not overwrite a file someone made read-only" in err
    assert "chmod u+w" in err
    assert tree(project) == before  # all or nothing: the other apps' files were not written either
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_a_wrangler_file_keeps_its_mode_and_a_env_file_becomes_0600_and_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / CODEX).chmod(0o640)
    env = project / ENV
    env.write_text("PORT=8080\n")
    env.chmod(0o644)
    code, _, err = render(project, capsys)
    assert code == 0, err
    assert stat.S_IMODE((project / CODEX).stat().st_mode) == 0o640
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert f"{ENV}: mode 0644 → 0600: it holds secrets, only you may read it" in err


@pytest.mark.parametrize(
    "written",
    [
        'CLOUDFLARE_API_TOKEN="first-line\nSECOND-LINE-OF-SECRET"\n',
        "CLOUDFLARE_API_TOKEN='first-line\nSECOND-LINE-OF-SECRET'\n",
        'export CLOUDFLARE_API_TOKEN = "SECOND-LINE-OF-SECRET"\n',
        'OPENAI_API_KEY="sk-1\nSECOND-LINE-OF-SECRET\n"\nCLOUDFLARE_ACCOUNT_ID=x\n',
    ],
    ids=["double-quoted", "single-quoted", "export", "an-apps-own-secret"],
)
def test_check_diff_of_a_env_masks_every_secret_line_whatever_its_quoting(
    project: Path, capsys: pytest.CaptureFixture[str], written: str
) -> None:
    (project / ENV).write_text(written)
    code, out, err = render(project, capsys, "--app", "chatchonk-api", "--with-secrets", "--check")
    assert code == 1
    assert f"+++ b/{ENV}" in out
    assert MASK in out
    assert "SECOND-LINE-OF-SECRET" not in out + err
    assert TOKEN_VALUE not in out + err


@pytest.mark.parametrize("relpath", [CODEX, PICK, ENV])
def test_crlf_line_endings_and_a_bom_are_kept_as_found(
    project: Path, capsys: pytest.CaptureFixture[str], relpath: str
) -> None:
    path = project / relpath
    text = path.read_text() if path.exists() else (project / (ENV + ".example")).read_text()
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    code, _, err = render(project, capsys)
    assert code == 0, err
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\n") == data.count(b"\r\n") > 0
    if relpath != ENV:
        assert hex_id(f"{relpath.split('/')[1]}-dev-" + ("KV" if relpath == PICK else "CACHE_KV")) in data.decode()
    assert render(project, capsys, "--check")[0] == 0


def test_non_utf8_file_is_refused_with_its_line_and_column(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = project / CODEX
    path.write_bytes(b'name = "codex"\n# caf\xe9\n')
    before = tree(project)
    code, _, err = render(project, capsys)
    assert code == 2
    assert f"{CODEX}:2:6: is not UTF-8 text: byte 0xe9" in err
    assert tree(project) == before


def test_a_huge_file_is_refused_at_once_with_the_limit_in_the_message(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / CODEX
    with path.open("a") as stream:
        stream.write("# padding\n" * (6 * 1024 * 1024 // 10))  # 6 MiB, above the 5 MiB limit
    before = tree(project)
    code, _, err = render(project, capsys)
    assert code == 2
    assert f"{CODEX}: is 6.0 MiB; kvstack reads files up to 5 MiB" in err
    assert tree(project) == before


@pytest.mark.parametrize(
    ("relpath", "text", "where"),
    [
        (CODEX, "name = 'x'\na = " + "[" * 3000 + "]" * 3000 + "\n", ":2:69: nested more than 64 levels deep"),
        (CODEX, "name = 'x'\na = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n", ":2:"),
        (PICK, '{"name": "x",\n"a": ' + "[" * 3000 + "]" * 3000 + "}\n", ":2:"),
        (PICK, "", ":1:1: the file is empty"),
        (PICK, "  \n// only a comment\n", ":3:1: not valid JSONC"),
    ],
    ids=["toml-arrays", "toml-inline-tables", "jsonc-arrays", "empty", "comment-only"],
)
def test_absurd_nesting_and_empty_files_exit_2_with_file_and_line(
    project: Path, capsys: pytest.CaptureFixture[str], relpath: str, text: str, where: str
) -> None:
    (project / relpath).write_text(text)
    before = tree(project)
    code, _, err = render(project, capsys)
    assert code == 2, err
    assert f"{relpath}{where}" in err
    assert tree(project) == before


@pytest.mark.parametrize(
    ("relpath", "entry"),
    [
        (CODEX, '\n[[env.staging.kv_namespaces]]\nbinding = "CACHE_KV"\nid = "{id}"\n'),
        (PICK, None),
    ],
)
def test_a_file_binding_one_name_twice_exits_2_with_the_line_and_stays_untouched(
    project: Path, capsys: pytest.CaptureFixture[str], relpath: str, entry: str | None
) -> None:
    path = project / relpath
    text = path.read_text()
    if entry is not None:
        text += entry.format(id=A) * 2
        duplicate = "CACHE_KV"
    else:
        text = text.replace('"kv_namespaces": [', f'"kv_namespaces": [\n    {{"binding": "KV", "id": "{A}"}},', 1)
        duplicate = "KV"
    path.write_text(text)
    before = tree(project)
    code, _, err = render(project, capsys)
    assert code == 2, err
    assert f"kv binding {duplicate} is declared 2 times" in err
    assert "wrangler refuses such a file" in err
    assert tree(project) == before
