"""Reading YAML that people (or attackers) write: every hostile file is exit 2 at `validate`, with file:line.

Driven through `kvstack validate` in this process, so a traceback fails the test instead of hiding in a
subprocess's stderr.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, invoke

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
HOSTILE_YAML = {
    # a 700-byte billion-laughs file: nine levels of nine aliases
    "alias-bomb": ('a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + BOMB, "alias bomb"),
    "recursive-alias": ("config: &a [*a]\n", "refers to the value that contains it"),
    "deep-flow": ("config: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels deep"),
    "deep-mappings": ("config:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 400)), "nested more than"),
    "complex-key": ("config:\n  ? [a, b]\n  : c\n", "a mapping key must be plain text"),
    "flow-complex-key": ("config: {[a]: 1}\n", "a mapping key must be plain text"),
    "impossible-date": ("config:\n  kvstack:token_expiry: 2027-02-30\n", "this value cannot be read"),
    "empty": ("", "a stack file must hold a `config:` mapping"),
    "tab-indent": ("config:\n\tkvstack:environment: dev\n", "YAML does not parse"),
    "bad-escape": ('config: "\\q"\n', "YAML does not parse"),
    "two-documents": ("config: {}\n---\nconfig: {}\n", "YAML does not parse"),
    "unknown-tag": ("config: !!python/object:os.system {}\n", "YAML does not parse"),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "keyspaces", tmp_path / "keyspaces")
    shutil.copytree(ROOT / "apps", tmp_path / "apps")
    return tmp_path


def validate(project: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, _, err = invoke("validate", "--stack", "dev", "--root", str(project), capsys=capsys)
    return code, err


@pytest.mark.parametrize(("text", "message"), HOSTILE_YAML.values(), ids=HOSTILE_YAML.keys())
def test_hostile_stack_file_exits_2_with_file_line_and_column(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    (project / "Pulumi.dev.yaml").write_text(text)
    code, err = validate(project, capsys)
    assert code == 2, err
    assert message in err
    assert re.search(r"Pulumi\.dev\.yaml:\d+:\d+", err), err


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"config:\n  kvstack:environment: d\xe9v\n", "Pulumi.dev.yaml:2:25: is not UTF-8 text: byte 0xe9"),
        (b"# " + b"x" * (6 * 1024 * 1024) + b"\n", "Pulumi.dev.yaml: is 6.0 MiB; kvstack reads files up to 5 MiB"),
    ],
    ids=["not-utf8", "huge"],
)
def test_unreadable_stack_file_exits_2_saying_why(
    project: Path, capsys: pytest.CaptureFixture[str], data: bytes, message: str
) -> None:
    (project / "Pulumi.dev.yaml").write_bytes(data)
    code, err = validate(project, capsys)
    assert code == 2
    assert message in err


def test_stack_file_with_a_bom_and_crlf_is_read(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("\n", "\r\n")
    (project / "Pulumi.dev.yaml").write_bytes(b"\xef\xbb\xbf" + text.encode())
    code, err = validate(project, capsys)
    assert code == 0, err


def test_stack_file_that_is_a_link_is_refused_naming_its_target(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(ROOT / "Pulumi.dev.yaml", project / "elsewhere.yaml")
    (project / "Pulumi.dev.yaml").symlink_to("elsewhere.yaml")
    code, err = validate(project, capsys)
    assert code == 2
    assert "Pulumi.dev.yaml: is a symbolic link to elsewhere.yaml" in err
