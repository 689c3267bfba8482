"""Rendering the real-world wrangler corpus: meaning kept outside managed entries, comments kept, stable.

For every file, bindings are rendered into every section alone and into all sections at once: the
section's first kv binding is managed (replaced), the others stay unmanaged, and KVSTACK_NEW is added.
"""

from __future__ import annotations

import difflib

import pytest

from kvstack.errors import WranglerFileError
from kvstack.render import render_wrangler
from tests.render.corpus import (
    CorpusFile,
    comments,
    corpus_files,
    corpus_params,
    managed_entries,
    need_corpus,
    parse,
    specs_for,
    without_managed,
)

FILES = corpus_files()
PARSEABLE = [f for f in FILES if f.parses]
BROKEN = [f for f in FILES if not f.parses]


def ids(files: list[CorpusFile]) -> list[str]:
    return [f.name for f in files]


@pytest.fixture(autouse=True)
def _corpus() -> None:
    need_corpus()


def test_corpus_is_beside_the_checkout_with_files_of_every_format() -> None:
    assert {f.format for f in FILES} == {"toml", "jsonc", "json"}
    assert len(PARSEABLE) >= 30


@pytest.mark.parametrize("item", corpus_params(PARSEABLE))
def test_render_changes_nothing_outside_the_managed_entries(item: CorpusFile) -> None:
    text = item.path.read_text(encoding="utf-8")
    original = parse(text, item.format)
    for label, spec in specs_for(item, original):
        result = render_wrangler(text, spec, file=item.name)
        rendered = parse(result.text, item.format)
        assert without_managed(rendered, spec) == without_managed(original, spec), f"{item.name} ({label})"
        before = managed_entries(original, spec)
        for section, bindings in spec.sections.items():
            for binding in bindings:
                entries = managed_entries(rendered, spec)[(section, binding.binding)]
                assert entries, f"{item.name} ({label}): {binding.binding} missing from {section}"
                for index, entry in enumerate(entries):
                    assert (entry["id"], entry["preview_id"]) == (binding.id, binding.preview_id)
                    # whatever else the entry held stays (e.g. a `remote` flag)
                    old = before[(section, binding.binding)]
                    if index < len(old):
                        extra = {k: v for k, v in old[index].items() if k not in ("id", "preview_id")}
                        assert extra.items() <= entry.items()


@pytest.mark.parametrize("item", corpus_params(PARSEABLE))
def test_render_keeps_every_comment(item: CorpusFile) -> None:
    text = item.path.read_text(encoding="utf-8")
    original = parse(text, item.format)
    wanted = comments(text, item.format)
    for label, spec in specs_for(item, original):
        found = comments(render_wrangler(text, spec, file=item.name).text, item.format)
        missing = [c for c in wanted if c not in found]
        assert not missing, f"{item.name} ({label}) lost comments: {missing}"
        assert len(found) == len(wanted), f"{item.name} ({label}): comments added or duplicated"


@pytest.mark.parametrize("item", corpus_params(PARSEABLE))
def test_second_render_is_byte_identical(item: CorpusFile) -> None:
    text = item.path.read_text(encoding="utf-8")
    for label, spec in specs_for(item, parse(text, item.format)):
        once = render_wrangler(text, spec, file=item.name).text
        twice = render_wrangler(once, spec, file=item.name)
        assert twice.text == once, f"{item.name} ({label})"
        assert [f for f in twice.findings if f.severity == "error"] == []


@pytest.mark.parametrize("item", corpus_params(PARSEABLE))
def test_new_ids_on_a_rendered_file_change_only_the_id_lines(item: CorpusFile) -> None:
    text = item.path.read_text(encoding="utf-8")
    original = parse(text, item.format)
    first = dict(specs_for(item, original, salt="first"))["new-env"]
    second = dict(specs_for(item, original, salt="second"))["new-env"]
    rendered = render_wrangler(text, first, file=item.name).text
    again = render_wrangler(rendered, second, file=item.name).text
    new_ids = {i for bindings in second.sections.values() for b in bindings for i in (b.id, b.preview_id) if i}
    changed = [
        line
        for line in difflib.unified_diff(rendered.splitlines(), again.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    added = [line for line in changed if line.startswith("+")]
    assert len(added) == len(changed) // 2
    assert all(any(i in line for i in new_ids) for line in added), f"{item.name}: {added}"


@pytest.mark.parametrize("item", corpus_params(BROKEN))
def test_file_that_does_not_parse_raises_with_its_position(item: CorpusFile) -> None:
    text = item.path.read_text(encoding="utf-8")
    for _, spec in specs_for(item, {}):
        with pytest.raises(WranglerFileError) as caught:
            render_wrangler(text, spec, file=item.name)
        assert caught.value.file == item.name
        assert caught.value.line is not None
        assert caught.value.column is not None
        assert caught.value.exit_code == 2


def test_the_unparseable_corpus_file_is_the_one_provenance_says() -> None:
    assert ids(BROKEN) == ["023-cloudflare-temp-email-pr810.toml"]
