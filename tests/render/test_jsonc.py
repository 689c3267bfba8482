"""render_wrangler on wrangler.jsonc / wrangler.json: exact output for every kind of merge."""

from __future__ import annotations

from typing import Literal

import pytest

from kvstack.errors import WranglerFileError
from kvstack.render import KvBinding, WranglerSpec, render_wrangler

A = "a" * 32
B = "b" * 32
C = "c" * 32
D = "d" * 32


def spec(sections: dict[str, list[KvBinding]], *, fmt: Literal["jsonc", "json"] = "jsonc") -> WranglerSpec:
    return WranglerSpec(format=fmt, sections=sections, name="demo")


def test_placeholder_replaced_in_place_comment_kept_and_preview_id_added_in_the_files_style() -> None:
    text = (
        "{\n"
        '\t"name": "demo",\n'
        "\t// class state\n"
        '\t"kv_namespaces": [\n'
        "\t\t{\n"
        '\t\t\t"binding": "KV",\n'
        '\t\t\t"id": "REPLACE_ME", // kvstack fills this in\n'
        "\t\t},\n"
        "\t],\n"
        "}\n"
    )
    result = render_wrangler(text, spec({"top": [KvBinding("KV", A, B)]}), file="wrangler.jsonc")
    assert result.text == (
        "{\n"
        '\t"name": "demo",\n'
        "\t// class state\n"
        '\t"kv_namespaces": [\n'
        "\t\t{\n"
        '\t\t\t"binding": "KV",\n'
        f'\t\t\t"id": "{A}", // kvstack fills this in\n'
        f'\t\t\t"preview_id": "{B}",\n'
        "\t\t},\n"
        "\t],\n"
        "}\n"
    )
    assert [f.kind for f in result.findings] == ["placeholder", "missing-preview-id"]


def test_member_added_after_a_last_member_without_comma_keeps_its_line_comment() -> None:
    text = '{\n  "kv_namespaces": [\n    {\n      "binding": "KV",\n      "id": "x" // set me\n    }\n  ]\n}\n'
    result = render_wrangler(text, spec({"top": [KvBinding("KV", A, B)]}), file="w.jsonc")
    assert result.text == (
        "{\n"
        '  "kv_namespaces": [\n'
        "    {\n"
        '      "binding": "KV",\n'
        f'      "id": "{A}", // set me\n'
        f'      "preview_id": "{B}"\n'
        "    }\n"
        "  ]\n"
        "}\n"
    )


@pytest.mark.parametrize(
    "comment",
    ["// set me, please", "/* set me,\n         please */"],
    ids=["line comment with a comma", "block comment over two lines"],
)
def test_comments_after_the_last_member_are_not_mistaken_for_commas_or_line_ends(comment: str) -> None:
    text = f'{{\n  "kv_namespaces": [\n    {{\n      "binding": "KV",\n      "id": "x" {comment}\n    }}\n  ]\n}}\n'
    result = render_wrangler(text, spec({"top": [KvBinding("KV", A, B)]}), file="w.jsonc")
    assert result.text == text.replace(f'"id": "x" {comment}\n', f'"id": "{A}", {comment}\n      "preview_id": "{B}"\n')


def test_new_entry_follows_the_first_entrys_style_inline_and_padded() -> None:
    text = (
        '{\n  "kv_namespaces": [\n    { "binding": "KV", "id": "x" },\n    { "binding": "OTHER", "id": "y" }\n  ]\n}\n'
    )
    result = render_wrangler(text, spec({"top": [KvBinding("NEW", C, D)]}, fmt="json"), file="wrangler.json")
    assert result.text == (
        "{\n"
        '  "kv_namespaces": [\n'
        '    { "binding": "KV", "id": "x" },\n'
        '    { "binding": "OTHER", "id": "y" },\n'
        f'    {{ "binding": "NEW", "id": "{C}", "preview_id": "{D}" }}\n'
        "  ]\n"
        "}\n"
    )
    assert [(f.kind, f.binding) for f in result.findings] == [
        ("missing-binding", "NEW"),
        ("unmanaged-binding", "KV"),
        ("placeholder", "KV"),
        ("unmanaged-binding", "OTHER"),
        ("placeholder", "OTHER"),
    ]


def test_array_holding_only_comments_gets_the_entry_after_them() -> None:
    text = '{\n  "kv_namespaces": [\n    // {\n    //   "binding": "NEXT_CACHE_WORKERS_KV",\n    // }\n  ]\n}\n'
    result = render_wrangler(text, spec({"top": [KvBinding("KV", A, B)]}), file="w.jsonc")
    assert result.text == (
        "{\n"
        '  "kv_namespaces": [\n'
        "    // {\n"
        '    //   "binding": "NEXT_CACHE_WORKERS_KV",\n'
        "    // }\n"
        "    {\n"
        '      "binding": "KV",\n'
        f'      "id": "{A}",\n'
        f'      "preview_id": "{B}"\n'
        "    }\n"
        "  ]\n"
        "}\n"
    )


def test_missing_environment_is_added_to_env_and_other_environments_stay() -> None:
    text = (
        "{\n"
        '\t"name": "demo",\n'
        '\t"env": {\n'
        '\t\t"production": {\n'
        '\t\t\t"kv_namespaces": [{ "binding": "KV", "id": "prod-placeholder" }]\n'
        "\t\t}\n"
        "\t}\n"
        "}\n"
    )
    result = render_wrangler(text, spec({"env.staging": [KvBinding("KV", A, B)]}), file="w.jsonc")
    assert result.text == (
        "{\n"
        '\t"name": "demo",\n'
        '\t"env": {\n'
        '\t\t"production": {\n'
        '\t\t\t"kv_namespaces": [{ "binding": "KV", "id": "prod-placeholder" }]\n'
        "\t\t},\n"
        '\t\t"staging": {\n'
        '\t\t\t"kv_namespaces": [\n'
        "\t\t\t\t{\n"
        '\t\t\t\t\t"binding": "KV",\n'
        f'\t\t\t\t\t"id": "{A}",\n'
        f'\t\t\t\t\t"preview_id": "{B}"\n'
        "\t\t\t\t}\n"
        "\t\t\t]\n"
        "\t\t}\n"
        "\t}\n"
        "}\n"
    )
    assert [(f.kind, f.section) for f in result.findings] == [("missing-binding", "env.staging")]


def test_env_object_is_created_when_the_file_has_none() -> None:
    text = '{\n  "name": "demo", // the worker\n}\n'
    result = render_wrangler(text, spec({"env.staging": [KvBinding("KV", A, B)]}), file="w.jsonc")
    assert result.text == (
        "{\n"
        '  "name": "demo", // the worker\n'
        '  "env": {\n'
        '    "staging": {\n'
        '      "kv_namespaces": [\n'
        "        {\n"
        '          "binding": "KV",\n'
        f'          "id": "{A}",\n'
        f'          "preview_id": "{B}",\n'
        "        },\n"
        "      ],\n"
        "    },\n"
        "  },\n"
        "}\n"
    )


def test_rendering_twice_changes_nothing_the_second_time() -> None:
    text = '{\n\t"name": "demo",\n\t"kv_namespaces": []\n}'
    bindings = spec({"top": [KvBinding("KV", A, B)], "env.production": [KvBinding("KV", C, D)]})
    once = render_wrangler(text, bindings, file="w.jsonc")
    assert once.text != text
    assert render_wrangler(once.text, bindings, file="w.jsonc").text == once.text


def test_missing_json_file_is_created_without_comments() -> None:
    result = render_wrangler(None, spec({"top": [KvBinding("KV", A, B)]}, fmt="json"), file="wrangler.json")
    assert result.text == (
        "{\n"
        '\t"name": "demo",\n'
        '\t"kv_namespaces": [\n'
        "\t\t{\n"
        '\t\t\t"binding": "KV",\n'
        f'\t\t\t"id": "{A}",\n'
        f'\t\t\t"preview_id": "{B}"\n'
        "\t\t}\n"
        "\t]\n"
        "}\n"
    )
    assert [f.kind for f in result.findings] == ["missing-file"]


def test_missing_jsonc_file_is_created_with_a_note() -> None:
    result = render_wrangler(None, spec({"top": [KvBinding("KV", A, B)]}), file="wrangler.jsonc")
    assert result.text.startswith("// Created by `kvstack render`")


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ('{\n  "name": "x",\n  "main" "src/index.ts"\n}\n', 3, 10, "Was expecting COLON"),
        ('{\n  "name": "x",,\n}\n', 2, 14, "multiple trailing commas"),
        ("{\n  'name': 'x'\n}\n", 2, 3, "single-quoted string"),
        ('{\n  name: "x"\n}\n', 2, 3, "unquoted key name"),
        ('["not", "an", "object"]\n', 1, 1, "one object at the top"),
    ],
)
def test_file_that_is_not_jsonc_raises_with_line_and_column(text: str, line: int, column: int, words: str) -> None:
    with pytest.raises(WranglerFileError) as caught:
        render_wrangler(text, spec({"top": [KvBinding("KV", A, B)]}), file="w.jsonc")
    assert (caught.value.line, caught.value.column) == (line, column)
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"w.jsonc:{line}:{column}: ")
