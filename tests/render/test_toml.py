"""render_wrangler on wrangler.toml: exact output for every kind of merge."""

from __future__ import annotations

import pytest

from kvstack.errors import WranglerFileError
from kvstack.render import KvBinding, WranglerSpec, render_wrangler

A = "a" * 32
B = "b" * 32
C = "c" * 32
D = "d" * 32


def spec(sections: dict[str, list[KvBinding]], *, pages: bool = False) -> WranglerSpec:
    return WranglerSpec(format="toml", sections=sections, name="demo", pages=pages)


def test_placeholder_id_is_replaced_and_its_comment_kept_and_preview_id_added() -> None:
    text = (
        'name = "demo"\n'
        "\n"
        "# chart messages\n"
        "[[kv_namespaces]]\n"
        'binding = "CHART_KV"\n'
        'id = "PLACEHOLDER_CHART_KV_ID" # filled in by kvstack\n'
        "\n"
        "[vars]\n"
        'A = "1"\n'
    )
    result = render_wrangler(text, spec({"top": [KvBinding("CHART_KV", A, B)]}), file="wrangler.toml")
    assert result.text == (
        'name = "demo"\n'
        "\n"
        "# chart messages\n"
        "[[kv_namespaces]]\n"
        'binding = "CHART_KV"\n'
        f'id = "{A}" # filled in by kvstack\n'
        f'preview_id = "{B}"\n'
        "\n"
        "[vars]\n"
        'A = "1"\n'
    )
    assert [(f.kind, f.severity, f.binding, f.section) for f in result.findings] == [
        ("placeholder", "error", "CHART_KV", "top"),
        ("missing-preview-id", "error", "CHART_KV", "top"),
    ]


def test_missing_binding_is_appended_after_the_last_entry_before_the_next_tables_comments() -> None:
    text = (
        "[[kv_namespaces]]\n"
        'binding = "KV"\n'
        f'id = "{A}"\n'
        f'preview_id = "{B}"\n'
        "\n"
        "# ==== PRODUCTION ====\n"
        "[env.production]\n"
        'name = "p"\n'
    )
    result = render_wrangler(
        text, spec({"top": [KvBinding("KV", A, B), KvBinding("CACHE_KV", C, D)]}), file="wrangler.toml"
    )
    assert result.text == (
        "[[kv_namespaces]]\n"
        'binding = "KV"\n'
        f'id = "{A}"\n'
        f'preview_id = "{B}"\n'
        "\n"
        "[[kv_namespaces]]\n"
        'binding = "CACHE_KV"\n'
        f'id = "{C}"\n'
        f'preview_id = "{D}"\n'
        "\n"
        "# ==== PRODUCTION ====\n"
        "[env.production]\n"
        'name = "p"\n'
    )
    assert [f.kind for f in result.findings] == ["missing-binding"]


def test_owned_environment_is_written_in_full_and_other_sections_stay_untouched() -> None:
    text = (
        'name = "codex"\n'
        "\n"
        "[[kv_namespaces]]\n"
        'binding = "CACHE_KV"\n'
        'id = "local-cache"\n'
        "\n"
        "[env.staging]\n"
        'name = "codex-staging"\n'
        "\n"
        "[env.production]\n"
        'name = "codex"\n'
        "\n"
        "[[env.production.kv_namespaces]]\n"
        'binding = "CACHE_KV"\n'
        'id = "PLACEHOLDER"\n'
    )
    result = render_wrangler(text, spec({"env.staging": [KvBinding("CACHE_KV", A, B)]}), file="wrangler.toml")
    assert result.text == (
        'name = "codex"\n'
        "\n"
        "[[kv_namespaces]]\n"
        'binding = "CACHE_KV"\n'
        'id = "local-cache"\n'
        "\n"
        "[env.staging]\n"
        'name = "codex-staging"\n'
        "\n"
        "[[env.staging.kv_namespaces]]\n"
        'binding = "CACHE_KV"\n'
        f'id = "{A}"\n'
        f'preview_id = "{B}"\n'
        "\n"
        "[env.production]\n"
        'name = "codex"\n'
        "\n"
        "[[env.production.kv_namespaces]]\n"
        'binding = "CACHE_KV"\n'
        'id = "PLACEHOLDER"\n'
    )
    assert [(f.kind, f.section) for f in result.findings] == [("missing-binding", "env.staging")]


def test_environment_the_file_lacks_is_added_at_the_end() -> None:
    text = 'name = "codex"\nmain = "src/index.ts"'  # no newline at the end
    result = render_wrangler(text, spec({"env.staging": [KvBinding("KV", A, B)]}), file="wrangler.toml")
    assert result.text == (
        'name = "codex"\n'
        'main = "src/index.ts"\n'
        "\n"
        "[[env.staging.kv_namespaces]]\n"
        'binding = "KV"\n'
        f'id = "{A}"\n'
        f'preview_id = "{B}"\n'
    )
    assert "no [env.staging] section" in result.findings[0].message


def test_top_level_array_is_added_before_the_first_table_and_its_leading_comments() -> None:
    text = 'name = "demo"\nroutes = [\n  "a/*",\n]\n\n# settings\n[vars]\nA = "1"\n'
    result = render_wrangler(text, spec({"top": [KvBinding("KV", A, B)]}), file="wrangler.toml")
    assert result.text == (
        'name = "demo"\n'
        "routes = [\n"
        '  "a/*",\n'
        "]\n"
        "\n"
        "[[kv_namespaces]]\n"
        'binding = "KV"\n'
        f'id = "{A}"\n'
        f'preview_id = "{B}"\n'
        "\n"
        "# settings\n"
        "[vars]\n"
        'A = "1"\n'
    )


def test_inline_array_keeps_its_style_and_trailing_comma() -> None:
    text = 'kv_namespaces = [\n    { binding = "KV", id = "<YOUR_ID>" },\n]\n'
    result = render_wrangler(text, spec({"top": [KvBinding("KV", A, B), KvBinding("NEW", C, D)]}), file="w.toml")
    assert result.text == (
        "kv_namespaces = [\n"
        f'    {{ binding = "KV", id = "{A}", preview_id = "{B}" }},\n'
        f'    {{ binding = "NEW", id = "{C}", preview_id = "{D}" }},\n'
        "]\n"
    )


def test_literal_strings_and_indented_tables_stay_that_way() -> None:
    text = "[env.dev]\n\n  [[env.dev.kv_namespaces]]\n  binding = 'ImageKV'\n  preview_id = 'x'\n"
    result = render_wrangler(text, spec({"env.dev": [KvBinding("ImageKV", A, B)]}), file="w.toml")
    assert result.text == (
        f"[env.dev]\n\n  [[env.dev.kv_namespaces]]\n  binding = 'ImageKV'\n  preview_id = '{B}'\n  id = '{A}'\n"
    )
    assert [f.kind for f in result.findings] == ["missing-id", "placeholder"]


def test_unmanaged_kv_binding_stays_and_is_a_warning() -> None:
    text = f'[[kv_namespaces]]\nbinding = "OTHER"\nid = "TODO"\n\n[[kv_namespaces]]\nbinding = "KV"\nid = "{A}"\n'
    result = render_wrangler(text, spec({"top": [KvBinding("KV", A, None)]}), file="w.toml")
    assert result.text == text
    assert [(f.kind, f.severity, f.binding) for f in result.findings] == [
        ("unmanaged-binding", "warning", "OTHER"),
        ("placeholder", "warning", "OTHER"),
    ]


def test_rendering_twice_changes_nothing_the_second_time() -> None:
    text = 'name = "demo"\n\n[env.production]\nname = "p"\n\n[[kv_namespaces]]\nbinding = "X"\nid = "y"\n'
    bindings = spec({"top": [KvBinding("KV", A, B)], "env.production": [KvBinding("KV", C, D)]})
    once = render_wrangler(text, bindings, file="w.toml")
    twice = render_wrangler(once.text, bindings, file="w.toml")
    assert twice.text == once.text
    assert [f.kind for f in twice.findings] == ["unmanaged-binding", "placeholder"]


def test_missing_file_is_created_minimal_and_says_so() -> None:
    result = render_wrangler(None, spec({"top": [KvBinding("KV", A, B)]}), file="apps/demo/wrangler.toml")
    assert result.text == (
        "# Created by `kvstack render`: add `main`, `compatibility_date` and the rest of the app's settings.\n"
        'name = "demo"\n'
        "\n"
        "[[kv_namespaces]]\n"
        'binding = "KV"\n'
        f'id = "{A}"\n'
        f'preview_id = "{B}"\n'
    )
    assert [(f.kind, f.severity) for f in result.findings] == [("missing-file", "error")]


def test_pages_build_output_dir_is_kept_but_warned_about() -> None:
    text = f'pages_build_output_dir = ".vercel/output/static"\n\n[[kv_namespaces]]\nbinding = "KV"\nid = "{A}"\n'
    result = render_wrangler(text, spec({"top": [KvBinding("KV", A, None)]}, pages=True), file="w.toml")
    assert result.text == text
    assert [(f.kind, f.severity) for f in result.findings] == [("pages-build-output-dir", "warning")]


def test_file_that_is_not_toml_raises_with_line_and_column() -> None:
    with pytest.raises(WranglerFileError) as caught:
        render_wrangler('name = "x"\nroles = [\n  "a",\nnot toml\n', spec({"top": []}), file="w.toml")
    assert (caught.value.file, caught.value.line, caught.value.column) == ("w.toml", 4, 1)
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith("w.toml:4:1: not valid TOML")


def test_kv_namespaces_that_is_not_an_array_of_tables_is_refused() -> None:
    with pytest.raises(WranglerFileError, match="not an array of tables"):
        render_wrangler('kv_namespaces = "KV"\n', spec({"top": [KvBinding("KV", A, B)]}), file="w.toml")


def test_a_merge_that_would_change_anything_else_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import tomlkit

    real_dumps = tomlkit.dumps
    monkeypatch.setattr(tomlkit, "dumps", lambda document: real_dumps(document).replace('name = "demo"', 'name = "x"'))
    with pytest.raises(WranglerFileError, match="could not merge the bindings without changing something else"):
        render_wrangler('name = "demo"\n', spec({"env.a": [], "top": [KvBinding("KV", A, B)]}), file="w.toml")


SPLIT_ENVIRONMENTS = (
    'name = "x"\n'
    "\n"
    "[env.p]\n"
    'name = "p"\n'
    "\n"
    "[[kv_namespaces]]\n"
    'binding = "KV"\n'
    f'id = "{A}"\n'
    "\n"
    "[[env.q.kv_namespaces]]\n"
    'binding = "X"\n'
    f'id = "{C}"\n'
)


def test_file_whose_tables_tomlkit_would_regroup_is_left_byte_for_byte_when_nothing_changes() -> None:
    result = render_wrangler(SPLIT_ENVIRONMENTS, spec({"env.q": [KvBinding("X", C, None)]}), file="w.toml")
    assert result.text == SPLIT_ENVIRONMENTS
    assert result.findings == ()


def test_file_whose_tables_tomlkit_regroups_gets_a_layout_warning_when_it_changes() -> None:
    result = render_wrangler(SPLIT_ENVIRONMENTS, spec({"env.q": [KvBinding("X", D, None)]}), file="w.toml")
    assert f'id = "{D}"' in result.text
    assert [(f.kind, f.severity) for f in result.findings] == [("changed-id", "error"), ("toml-layout", "warning")]


def test_new_environment_goes_after_the_other_environments_tables() -> None:
    text = 'name = "x"\n\n[env.p]\nname = "p"\n\n# app settings\n[vars]\nA = "1"\n'
    result = render_wrangler(text, spec({"env.q": [KvBinding("KV", A, B)]}), file="w.toml")
    assert result.text == (
        'name = "x"\n'
        "\n"
        "[env.p]\n"
        'name = "p"\n'
        "\n"
        "[[env.q.kv_namespaces]]\n"
        'binding = "KV"\n'
        f'id = "{A}"\n'
        f'preview_id = "{B}"\n'
        "\n"
        "# app settings\n"
        "[vars]\n"
        'A = "1"\n'
    )
