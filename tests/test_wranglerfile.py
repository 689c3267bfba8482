"""kvstack.wranglerfile: parsing TOML and JSONC, sections, Worker names per env, KV bindings, .dev.vars."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvstack.errors import WranglerFileError
from kvstack.wranglerfile import read_dev_vars, read_wrangler_file, section_table


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_worker_name_under_env_is_name_dash_env_unless_the_section_names_itself(tmp_path: Path) -> None:
    plain = write(tmp_path / "a.toml", 'name = "app"\n')
    named = write(tmp_path / "b.toml", 'name = "app"\n[env.staging]\nname = "app-stg"\n')
    jsonc = write(tmp_path / "c.jsonc", '// c\n{"name": "j",}\n')
    assert read_wrangler_file(plain).worker_name(None) == "app"
    assert read_wrangler_file(plain).worker_name("staging") == "app-staging"
    assert read_wrangler_file(named).worker_name("staging") == "app-stg"
    assert read_wrangler_file(jsonc).worker_name("production") == "j-production"
    with pytest.raises(WranglerFileError, match="has no `name`"):
        read_wrangler_file(write(tmp_path / "d.toml", 'main = "x.js"\n')).worker_name(None)
    with pytest.raises(WranglerFileError, match="does not parse"):
        read_wrangler_file(write(tmp_path / "e.toml", "name = \n"))


def test_worker_names_per_section_fall_back_to_the_default_name(tmp_path: Path) -> None:
    nameless = read_wrangler_file(write(tmp_path / "a.jsonc", '{"env": {"prod": {"name": "p"}}}'))
    assert nameless.worker_names(["top", "env.staging", "env.prod"], default="app") == {
        "top": "app",
        "env.staging": "app-staging",
        "env.prod": "p",
    }


def test_section_tables_and_kv_bindings(tmp_path: Path) -> None:
    file = read_wrangler_file(
        write(
            tmp_path / "w.toml",
            'name = "w"\n[[kv_namespaces]]\nbinding = "KV"\nid = "a"\n'
            '[env.staging]\n[[env.staging.kv_namespaces]]\nbinding = "KV"\nid = "b"\npreview_id = "c"\n',
        )
    )
    assert file.envs == ("staging",)
    assert file.kv_bindings("top") == [{"binding": "KV", "id": "a"}]
    assert file.kv_bindings("env.staging") == [{"binding": "KV", "id": "b", "preview_id": "c"}]
    assert file.kv_bindings("env.production") == []
    assert section_table(file.data, "env.production") == {}


def test_a_file_that_is_no_table_or_cannot_be_read_is_a_wrangler_file_error(tmp_path: Path) -> None:
    with pytest.raises(WranglerFileError, match="is not a wrangler configuration"):
        read_wrangler_file(write(tmp_path / "a.json", "[1]"))
    with pytest.raises(WranglerFileError, match="cannot be read"):
        read_wrangler_file(tmp_path / "missing.toml")


def test_dev_vars_are_read_back_as_written(tmp_path: Path) -> None:
    path = write(tmp_path / ".dev.vars", "A=\"x y\"\n# B=no\nC='q'\n")
    assert read_dev_vars(path) == {"A": "x y", "C": "q"}
    assert read_dev_vars(tmp_path / "absent") == {}
