"""Random mutations of the user's files through `kvstack validate` and `kvstack render`, in this process.

Whatever the bytes: no traceback (an unexpected exception fails the test), an exit code of 0, 1 or 2,
and after an exit 2 every file byte-identical. Bounded for `make test`; more examples with
KVSTACK_FUZZ_EXAMPLES (e.g. 2000 for a long run).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.conftest import invoke
from tests.render.conftest import copy_project, outputs_document, write_outputs

EXAMPLES = int(os.environ.get("KVSTACK_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What breaks parsers: brackets, quotes, YAML/TOML/JSON punctuation, line endings, a BOM, NUL, non-ASCII.
HOSTILE = ["[", "]", "{", "}", '"', "'", ":", "=", ",", "#", "&a ", "*a", "!!", "? ", "- ", "|", ">", "\\",
           "\n", "\r\n", "\r", "\t", "  ", "\ufeff", "\x00", "é", "\u2028", "\U0001f600", "//", "/*", "*/",
           "[[", "]]", "${", "0x1", "1e400", "-", ".", "null", "true", "~"]  # fmt: skip

Mutation = tuple[str, float, float, str]
MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "duplicate", "replace"]),
        st.floats(0, 1),
        st.floats(0, 1),
        st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8)),
    ),
    min_size=1,
    max_size=6,
)


def mutate(text: str, mutations: list[Mutation]) -> str:
    for op, where, length, piece in mutations:
        start = int(where * len(text))
        end = min(len(text), start + int(length * 40))
        if op == "insert":
            text = text[:start] + piece + text[start:]
        elif op == "delete":
            text = text[:start] + text[end:]
        elif op == "duplicate":
            text = text[:end] + text[start:end] + text[end:]
        else:
            text = text[:start] + piece + text[end:]
    return text


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("fuzz") / "project")
    write_outputs(root / "dev.outputs.json", outputs_document(root, "dev"))
    pristine = root.parent / "pristine"
    shutil.copytree(root, pristine)
    return root


def restore(project: Path) -> None:
    pristine = project.parent / "pristine"
    shutil.rmtree(project)
    shutil.copytree(pristine, project)


def snapshot(project: Path) -> dict[str, bytes]:
    return {str(p.relative_to(project)): p.read_bytes() for p in sorted(project.rglob("*")) if p.is_file()}


RENDERED = ["apps/codex/wrangler.toml", "apps/pickmyclass/wrangler.jsonc", "apps/chatchonk-api/.env.example"]
VALIDATED = ["Pulumi.yaml", "Pulumi.dev.yaml", "keyspaces/class-state.yaml", "apps/dubai-app-front/wrangler.toml"]


@FUZZ
@given(target=st.sampled_from(RENDERED), mutations=MUTATIONS)
def test_render_of_a_mutated_file_never_crashes_and_leaves_files_untouched_on_error(
    project: Path, capsys: pytest.CaptureFixture[str], target: str, mutations: list[Mutation]
) -> None:
    restore(project)
    path = project / target
    path.write_bytes(mutate(path.read_text(), mutations).encode("utf-8", "surrogatepass"))
    if target.endswith(".example"):  # the .env render starts from the example
        shutil.copyfile(path, project / "apps/chatchonk-api/.env")
    before = snapshot(project)
    code, _, err = invoke(
        "render", "--stack", "dev", "--root", str(project), "--outputs", str(project / "dev.outputs.json"),
        "--with-secrets", capsys=capsys,
    )  # fmt: skip
    assert code in (0, 1, 2), err
    if code == 2:
        assert snapshot(project) == before, err
        assert ":" in err.split("error:", 1)[-1], err  # a file named in the message


@FUZZ
@given(target=st.sampled_from(VALIDATED), mutations=MUTATIONS)
def test_validate_of_a_mutated_file_never_crashes_and_says_where(
    project: Path, capsys: pytest.CaptureFixture[str], target: str, mutations: list[Mutation]
) -> None:
    restore(project)
    path = project / target
    path.write_bytes(mutate(path.read_text(), mutations).encode("utf-8", "surrogatepass"))
    before = snapshot(project)
    code, _, err = invoke("validate", "--stack", "dev", "--root", str(project), capsys=capsys)
    assert code in (0, 2), err
    assert snapshot(project) == before
    if code == 2:
        assert "Traceback" not in err
