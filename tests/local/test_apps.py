"""kvstack.local.apps: which apps run and in which section, the reference apps' files, staging, .dev.vars."""

from __future__ import annotations

import re
import stat
import tomllib
from pathlib import Path
from typing import Any

import json5
import pytest

from kvstack import names
from kvstack.catalog import load_catalog
from kvstack.errors import LocalCloudflareError
from kvstack.local.apps import local_dev_vars, stage_reference_apps, write_dev_vars
from kvstack.workers import REFERENCE_APPS_DIR

ROOT = Path(__file__).resolve().parents[2]

REFERENCE_APPS = ["codex", "dubai-app-front", "energy", "pickmyclass"]


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json5.loads(path.read_text())
    return data


def section(data: dict[str, Any], name: str) -> dict[str, Any]:
    if name == names.WRANGLER_TOP_SECTION:
        return data
    found: dict[str, Any] = data["env"][name.removeprefix("env.")]
    return found


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_reference_files_carry_a_placeholder_for_every_binding_of_every_owned_section(stack: str) -> None:
    catalog = load_catalog(ROOT, stack)
    for app in catalog.apps:
        if app.wrangler is None:
            continue
        path = REFERENCE_APPS_DIR / app.name / Path(app.wrangler.relpath).name
        data = read(path)
        assert data["main"] == "worker.js"
        assert (path.parent / "worker.js").is_file()
        for owned in app.wrangler.sections:
            entries = {e["binding"]: e for e in section(data, owned).get("kv_namespaces", [])}
            assert sorted(entries) == sorted(b.name for b in app.bindings), f"{path} [{owned}]"
            for binding, entry in entries.items():
                assert entry["id"] == f"PLACEHOLDER_{binding}_ID", f"{path} [{owned}] {binding}"
                assert "preview_id" not in entry, "wrangler dev would use preview_id instead of id"
                assert not names.is_namespace_id(entry["id"])


def test_codex_top_level_has_no_bindings_and_each_env_restates_its_own() -> None:
    data = read(REFERENCE_APPS_DIR / "codex" / "wrangler.toml")
    assert "kv_namespaces" not in data
    assert data["env"]["staging"]["vars"]["APP_ENV"] == "staging"
    assert data["env"]["production"]["vars"]["APP_ENV"] == "production"


def test_pickmyclass_declares_its_cron() -> None:
    assert read(REFERENCE_APPS_DIR / "pickmyclass" / "wrangler.jsonc")["triggers"]["crons"]


def test_no_committed_wrangler_file_holds_a_secret() -> None:
    for path in REFERENCE_APPS_DIR.glob("*/wrangler.*"):
        text = path.read_text()
        secrets = ("WEBHOOK_SECRET", "LOGIN_PASSWORD", "LOGIN_USER", "TRUSTED_CLIENT_HEADER", "KV_REST_API_TOKEN")
        for secret in secrets:
            assert f"{secret} =" not in text, f"{path} sets {secret}"
            assert f'"{secret}":' not in text, f"{path} sets {secret}"


def test_stage_copies_the_apps_and_keeps_an_existing_dev_vars(tmp_path: Path) -> None:
    staged = stage_reference_apps(tmp_path)
    assert sorted(staged) == REFERENCE_APPS
    assert (tmp_path / "pickmyclass" / "wrangler.jsonc").is_file()
    assert not (tmp_path / "_router").exists()
    write_dev_vars(staged["codex"], {"LOGIN_USER": "u"})
    (staged["codex"] / ".wrangler").mkdir()
    stage_reference_apps(tmp_path, ["codex"])
    assert (staged["codex"] / ".dev.vars").read_text() == 'LOGIN_USER="u"\n'
    assert not (staged["codex"] / ".wrangler").exists()


def test_every_relative_import_of_a_staged_reference_app_resolves_inside_its_folder(tmp_path: Path) -> None:
    # wrangler bundles each staged folder on its own: an import reaching outside it, or a module staging left
    # behind (the shared `_shared/`), fails the app at `local up`.
    for app, folder in stage_reference_apps(tmp_path).items():
        imported = []
        for source in folder.rglob("*.js"):
            for module in re.findall(r'^import .* from "(\.{1,2}/[^"]+)";$', source.read_text(), re.MULTILINE):
                target = (source.parent / module).resolve()
                assert target.is_relative_to(folder.resolve()), f"{app}: {source.name} imports {module} from outside"
                assert target.is_file(), f"{app}: {source.name} imports {module}, which staging did not copy"
                imported.append(target.relative_to(folder.resolve()).as_posix())
        assert "_shared/app.js" in imported, f"{app} does not use the reference apps' shared module"


def test_staging_an_unknown_app_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(LocalCloudflareError, match="no reference app named chatchonk-api") as caught:
        stage_reference_apps(tmp_path, ["chatchonk-api"])
    assert "codex, dubai-app-front, energy, pickmyclass" in str(caught.value)


def test_dev_vars_file_is_private_and_quoted(tmp_path: Path) -> None:
    path = write_dev_vars(tmp_path, {"A": 'say "hi"', "B": "x"})
    assert path.read_text() == 'A="say \\"hi\\""\nB="x"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(LocalCloudflareError, match="not a valid variable name"):
        write_dev_vars(tmp_path, {"A-B": "x"})


def test_local_dev_vars_document_the_local_secrets() -> None:
    assert set(local_dev_vars("dubai-app-front")) == {"WEBHOOK_SECRET"}
    assert set(local_dev_vars("codex")) == {"LOGIN_USER", "LOGIN_PASSWORD", "TRUSTED_CLIENT_HEADER"}
    assert local_dev_vars("codex")["LOGIN_USER"].startswith("kvstack-smoke")
    assert local_dev_vars("pickmyclass") == {}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
