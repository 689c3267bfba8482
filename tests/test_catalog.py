"""The catalog loader: the seed catalog loads; each malformed catalog is refused with file, place and rule."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kvstack.catalog import load_catalog
from kvstack.errors import CatalogError, CatalogProblems

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 22, tzinfo=UTC)

Doc = dict[str, Any]


def _write_project(tmp: Path, project: Doc, stack: Doc, stack_name: str = "dev") -> Path:
    (tmp / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (tmp / f"Pulumi.{stack_name}.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return tmp


def _seed() -> tuple[Doc, Doc]:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    return project, stack


def _apps(project: Doc) -> Doc:
    apps: Doc = project["config"]["kvstack:catalog"]["value"]["apps"]
    return apps


def _tokens(project: Doc) -> Doc:
    tokens: Doc = project["config"]["kvstack:catalog"]["value"]["tokens"]
    return tokens


def test_seed_catalog_loads_for_dev_and_prod() -> None:
    dev = load_catalog(ROOT, "dev", now=NOW)
    prod = load_catalog(ROOT, "prod", now=NOW)
    assert [a.name for a in dev.apps] == ["dubai-app-front", "chatchonk-api", "pickmyclass", "codex"]
    assert dev.app("codex").binding("CACHE_KV").title == "codex-dev-CACHE_KV"
    assert dev.app("codex").binding("CACHE_KV").preview_title == "codex-dev-CACHE_KV_preview"
    assert dev.app("codex").wrangler is not None
    assert dev.app("codex").wrangler.sections == ("env.staging",)  # type: ignore[union-attr]
    assert prod.app("codex").wrangler.sections == ("env.production",)  # type: ignore[union-attr]
    assert dev.protect is False
    assert prod.protect is True
    assert prod.app("chatchonk-api").binding("CACHE_KV").adopt is not None
    assert {t.role for t in dev.tokens} == {"deploy", "runtime", "audit"}
    assert dev.app("dubai-app-front").pages_project == "dubai-app-front-dev"
    assert prod.app("dubai-app-front").pages_project == "dubai-app-front"


def test_token_declared_expires_never_has_no_expiry_and_the_others_keep_theirs(tmp_path: Path) -> None:
    project, stack = _seed()
    _tokens(project)["audit"]["expires"] = "never"
    catalog = load_catalog(_write_project(tmp_path, project, stack), "dev", now=NOW)
    expiries = {t.key: t.expires_on for t in catalog.tokens}
    assert expiries == {
        "deploy": catalog.token_expiry,
        "chatchonk-api-runtime": catalog.token_expiry,
        "audit": None,
    }
    assert catalog.token_expiry == datetime(2027, 11, 30, tzinfo=UTC)


def test_catalog_objects_are_frozen() -> None:
    catalog = load_catalog(ROOT, "dev", now=NOW)
    with pytest.raises(AttributeError):
        catalog.environment = "prod"  # type: ignore[misc]


Mutation = Callable[[Doc, Doc], None]


def _set_app(app: str, key: str, value: Any) -> Mutation:
    def mutate(project: Doc, _stack: Doc) -> None:
        _apps(project)[app][key] = value

    return mutate


def _add_binding(app: str, name: str, spec: Doc | None = None) -> Mutation:
    def mutate(project: Doc, _stack: Doc) -> None:
        _apps(project)[app]["bindings"][name] = spec or {}

    return mutate


def _set_stack(key: str, value: Any) -> Mutation:
    def mutate(_project: Doc, stack: Doc) -> None:
        stack["config"][key] = value

    return mutate


def _set_stack_app(app: str, key: str, value: Any) -> Mutation:
    def mutate(_project: Doc, stack: Doc) -> None:
        stack["config"].setdefault("kvstack:apps", {}).setdefault(app, {})[key] = value

    return mutate


def _rename_app(old: str, new: str) -> Mutation:
    def mutate(project: Doc, _stack: Doc) -> None:
        _apps(project)[new] = _apps(project).pop(old)

    return mutate


def _add_app(name: str, spec: Doc) -> Mutation:
    def mutate(project: Doc, _stack: Doc) -> None:
        _apps(project)[name] = spec

    return mutate


def _token(name: str, spec: Doc) -> Mutation:
    def mutate(project: Doc, _stack: Doc) -> None:
        _tokens(project)[name] = spec

    return mutate


def _token_expires(name: str, value: Any) -> Mutation:
    def mutate(project: Doc, _stack: Doc) -> None:
        _tokens(project)[name]["expires"] = value

    return mutate


def _drop_token(name: str) -> Mutation:
    def mutate(project: Doc, _stack: Doc) -> None:
        del _tokens(project)[name]

    return mutate


def _project_top(key: str, value: Any) -> Mutation:
    def mutate(project: Doc, _stack: Doc) -> None:
        project["config"]["kvstack:catalog"]["value"][key] = value

    return mutate


def _both(first: Mutation, second: Mutation) -> Mutation:
    def mutate(project: Doc, stack: Doc) -> None:
        first(project, stack)
        second(project, stack)

    return mutate


WORKER = {"kind": "worker", "bindings": {"KV": {}}, "wrangler": {"path": "apps/x/wrangler.toml", "format": "toml"}}

# (case id, mutation, file named in the error, words the message must contain)
MALFORMED: list[tuple[str, Mutation, str, list[str]]] = [
    ("unknown-app-key", _set_app("codex", "bindngs", {}), "Pulumi.yaml", ["unknown key", "bindngs", "codex"]),
    ("unknown-top-key", _project_top("appz", {}), "Pulumi.yaml", ["unknown key", "appz"]),
    ("unknown-binding-key", _add_binding("codex", "X_KV", {"ttl": 5}), "Pulumi.yaml", ["unknown key", "ttl"]),
    (
        "unknown-stack-key",
        _set_stack("kvstack:acount_id", "x"),
        "Pulumi.dev.yaml",
        ["unknown key", "kvstack:acount_id"],
    ),
    ("unknown-stack-app-key", _set_stack_app("codex", "uri", "https://x"), "Pulumi.dev.yaml", ["unknown key", "uri"]),
    ("binding-not-identifier", _add_binding("codex", "CACHE-KV"), "Pulumi.yaml", ["CACHE-KV", "JavaScript identifier"]),
    ("binding-starts-with-digit", _add_binding("codex", "1KV"), "Pulumi.yaml", ["1KV", "JavaScript identifier"]),
    ("app-name-uppercase", _rename_app("codex", "Codex"), "Pulumi.yaml", ["Codex", "Pages project name"]),
    ("app-name-underscore", _rename_app("codex", "co_dex"), "Pulumi.yaml", ["co_dex", "Pages project name"]),
    ("app-name-too-long", _rename_app("codex", "c" * 59), "Pulumi.yaml", ["longer than 58"]),
    ("unknown-kind", _set_app("codex", "kind", "lambda"), "Pulumi.yaml", ["lambda", "pages", "worker", "rest"]),
    ("no-bindings", _set_app("codex", "bindings", {}), "Pulumi.yaml", ["codex", "bindings"]),
    ("bad-wrangler-format", _set_app("codex", "wrangler", {"path": "a", "format": "yaml"}), "Pulumi.yaml", ["yaml"]),
    (
        "wrangler-outside-root",
        _set_app("codex", "wrangler", {"path": "../x.toml", "format": "toml"}),
        "Pulumi.yaml",
        ["outside the project folder"],
    ),
    ("worker-without-wrangler", _set_app("codex", "wrangler", None), "Pulumi.yaml", ["wrangler"]),
    (
        "rest-with-wrangler",
        _set_app("chatchonk-api", "wrangler", {"path": "a.toml", "format": "toml"}),
        "Pulumi.yaml",
        ["rest app has no wrangler file"],
    ),
    ("unknown-flow", _set_app("codex", "flows", ["sessions"]), "Pulumi.yaml", ["sessions"]),
    (
        "title-collision-with-preview",
        _add_binding("codex", "CACHE_KV_preview"),
        "Pulumi.yaml",
        ["codex-dev-CACHE_KV_preview", "collides", "10014"],
    ),
    ("title-too-long", _add_binding("codex", "K" * 520), "Pulumi.yaml", ["bytes", "512"]),
    (
        "expiry-in-past",
        _set_stack("kvstack:token_expiry", "2020-01-01T00:00:00Z"),
        "Pulumi.dev.yaml",
        ["kvstack:token_expiry", "in the past"],
    ),
    (
        "expiry-not-a-date",
        _set_stack("kvstack:token_expiry", "next tuesday"),
        "Pulumi.dev.yaml",
        ["kvstack:token_expiry", "next tuesday"],
    ),
    (
        "stack-undeclared-app",
        _set_stack_app("shop", "url", "https://shop.example"),
        "Pulumi.dev.yaml",
        ["shop", "not declared"],
    ),
    (
        "adopt-undeclared-binding",
        _set_stack_app("codex", "adopt", {"NOPE_KV": {"id": "a" * 32}}),
        "Pulumi.dev.yaml",
        ["NOPE_KV", "no binding"],
    ),
    (
        "adopt-bad-id",
        _set_stack_app("codex", "adopt", {"CACHE_KV": {"id": "PLACEHOLDER"}}),
        "Pulumi.dev.yaml",
        ["PLACEHOLDER", "32 lowercase hex"],
    ),
    (
        "token-undeclared-app",
        _token("shop-runtime", {"role": "runtime", "app": "shop", "permissions": ["x"]}),
        "Pulumi.yaml",
        ["shop", "undeclared app"],
    ),
    (
        "runtime-token-for-worker",
        _token("codex-runtime", {"role": "runtime", "app": "codex", "permissions": ["x"]}),
        "Pulumi.yaml",
        ["runtime tokens are for rest apps"],
    ),
    (
        "rest-app-without-runtime-token",
        _drop_token("chatchonk-api-runtime"),
        "Pulumi.yaml",
        ["chatchonk-api", "no runtime token"],
    ),
    (
        "token-without-permissions",
        _token("audit", {"role": "audit", "permissions": []}),
        "Pulumi.yaml",
        ["permissions"],
    ),
    (
        "account-id-short",
        _set_stack("kvstack:account_id", "abc123"),
        "Pulumi.dev.yaml",
        ["abc123", "32 lowercase hex", "kvstack:account_id"],
    ),
    ("account-id-uppercase", _set_stack("kvstack:account_id", "A" * 32), "Pulumi.dev.yaml", ["32 lowercase hex"]),
    (
        "missing-environment",
        lambda _p, s: s["config"].pop("kvstack:environment"),
        "Pulumi.dev.yaml",
        ["kvstack:environment", "required"],
    ),
    (
        "prod-unprotected",
        lambda _p, s: s["config"].update({"kvstack:environment": "prod", "kvstack:protect": False}),
        "Pulumi.dev.yaml",
        ["always protected"],
    ),
    (
        "pages-project-duplicate",
        _both(
            _add_app("shop", {**copy.deepcopy(WORKER), "kind": "pages"}),
            _set_stack_app("shop", "pages_project", "dubai-app-front-dev"),
        ),
        "Pulumi.dev.yaml",
        ["dubai-app-front-dev", "also used by"],
    ),
    (
        "catalog-in-stack-file",
        lambda _p, s: s["config"].update({"kvstack:catalog": {}}),
        "Pulumi.dev.yaml",
        ["declared once"],
    ),
    ("no-catalog", lambda p, _s: p["config"].pop("kvstack:catalog"), "Pulumi.yaml", ["no catalog"]),
    ("section-not-env", _set_stack_app("codex", "sections", ["staging"]), "Pulumi.dev.yaml", ["staging", "env."]),
    # JSON Schema patterns are ECMA-262: `$` does not match before a trailing newline (Python's `$` does)
    ("account-id-newline", _set_stack("kvstack:account_id", "a" * 32 + "\n"), "Pulumi.dev.yaml", ["32 lowercase"]),
    ("environment-newline", _set_stack("kvstack:environment", "dev\n"), "Pulumi.dev.yaml", ["'dev\\n'"]),
    ("app-name-newline", _rename_app("codex", "codex\n"), "Pulumi.yaml", ["'codex\\n'", "Pages project name"]),
    ("binding-newline", _add_binding("codex", "KV\n"), "Pulumi.yaml", ["'KV\\n'", "JavaScript identifier"]),
    (
        "section-newline",
        _set_stack_app("codex", "sections", ["env.staging\n"]),
        "Pulumi.dev.yaml",
        ["'env.staging\\n'", "env."],
    ),
    (
        "adopt-id-newline",
        _set_stack_app("codex", "adopt", {"CACHE_KV": {"id": "a" * 32 + "\n"}}),
        "Pulumi.dev.yaml",
        ["32 lowercase hex"],
    ),
    (
        "adopt-preview-id-newline",
        _set_stack_app("codex", "adopt", {"CACHE_KV": {"id": "a" * 32, "preview_id": "b" * 32 + "\n"}}),
        "Pulumi.dev.yaml",
        ["32 lowercase hex"],
    ),
    # files: what wrangler and render would do with them
    ("wrangler-path-dot", _set_app("codex", "wrangler", {"path": ".", "format": "toml"}), "Pulumi.yaml", ["'.'"]),
    (
        "wrangler-path-pulumi-file",
        _set_app("codex", "wrangler", {"path": "Pulumi.yaml", "format": "toml"}),
        "Pulumi.yaml",
        ["'Pulumi.yaml' is a Pulumi file of the project"],
    ),
    (
        "wrangler-suffix-not-format",
        _set_app("codex", "wrangler", {"path": "apps/codex/wrangler.jsonc", "format": "toml"}),
        "Pulumi.yaml",
        ["`format: toml`", "does not end in .toml"],
    ),
    (
        "two-apps-one-wrangler-file",
        _set_app("codex", "wrangler", {"path": "apps/pickmyclass/wrangler.jsonc", "format": "jsonc"}),
        "Pulumi.yaml",
        ["is the file of both pickmyclass and codex"],
    ),
    (
        "env-file-is-the-stack-file",
        _set_app("chatchonk-api", "env_file", "Pulumi.dev.yaml"),
        "Pulumi.yaml",
        ["'Pulumi.dev.yaml' is a Pulumi file"],
    ),
    (
        "more-namespaces-than-an-account-holds",
        _add_app(
            "big",
            {**copy.deepcopy(WORKER), "bindings": {f"K{i}": {} for i in range(495)}},
        ),
        "Pulumi.yaml",
        ["1002 namespaces", "1000 per account"],
    ),
    # catalog rules that had messages but no test (issue 11)
    (
        "adopt-one-namespace-twice",
        _both(
            _set_stack_app("codex", "adopt", {"CACHE_KV": {"id": "c" * 32}}),
            _set_stack_app("pickmyclass", "adopt", {"KV": {"id": "d" * 32, "preview_id": "c" * 32}}),
        ),
        "Pulumi.dev.yaml",
        ["namespace " + "c" * 32 + " is adopted twice", "codex.CACHE_KV", "pickmyclass.KV"],
    ),
    (
        "adopt-id-as-own-preview",
        _set_stack_app("codex", "adopt", {"CACHE_KV": {"id": "c" * 32, "preview_id": "c" * 32}}),
        "Pulumi.dev.yaml",
        ["adopted twice"],
    ),
    (
        "second-runtime-token",
        _token("chatchonk-api-runtime-2", {"role": "runtime", "app": "chatchonk-api", "permissions": ["x"]}),
        "Pulumi.yaml",
        ["app chatchonk-api already has runtime token chatchonk-api-runtime"],
    ),
    (
        "runtime-token-without-app",
        _token("loose-runtime", {"role": "runtime", "permissions": ["x"]}),
        "Pulumi.yaml",
        ["a runtime token names the rest app that uses it"],
    ),
    (
        "account-wide-token-with-app",
        _token("audit", {"role": "audit", "app": "chatchonk-api", "permissions": ["Workers KV Storage Read"]}),
        "Pulumi.yaml",
        ["audit tokens are account-wide; `app` is only for runtime tokens"],
    ),
    (
        "deploy-token-with-app",
        _token("deploy", {"role": "deploy", "app": "codex", "permissions": ["Workers Scripts Write"]}),
        "Pulumi.yaml",
        ["account-wide"],
    ),
    # "may not expire" is one explicit word, nothing that merely looks like it (issue 11)
    ("token-expires-false", _token_expires("audit", False), "Pulumi.yaml", ["tokens.audit.expires", "'never'"]),
    ("token-expires-capitalised", _token_expires("audit", "Never"), "Pulumi.yaml", ["tokens.audit.expires", "'never'"]),
    (
        "token-expires-a-date",
        _token_expires("audit", "2030-01-01T00:00:00Z"),
        "Pulumi.yaml",
        ["tokens.audit.expires", "'never'"],
    ),
    ("token-expires-empty", _token_expires("deploy", None), "Pulumi.yaml", ["tokens.deploy.expires", "'never'"]),
]


@pytest.mark.parametrize(("case", "mutate", "file", "words"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_catalog_is_refused_with_file_path_and_rule(
    tmp_path: Path, case: str, mutate: Mutation, file: str, words: list[str]
) -> None:
    project, stack = _seed()
    mutate(project, stack)
    root = _write_project(tmp_path, project, stack)
    with pytest.raises(CatalogError) as caught:
        load_catalog(root, "dev", now=NOW)
    error = caught.value
    assert error.exit_code == 2
    assert error.file == file, f"{case}: error placed in {error.file}, expected {file}: {error}"
    assert error.line is not None, f"{case}: no line number in {error}"
    text = str(error)
    for word in words:
        assert word in text, f"{case}: {word!r} missing from the message: {text}"


def test_there_are_at_least_25_malformed_cases() -> None:
    assert len({m[0] for m in MALFORMED}) >= 25


def test_yaml_that_does_not_parse_gives_line_and_column(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    (tmp_path / "Pulumi.yaml").write_text("name: kvstack\nconfig:\n  kvstack:catalog:\n    value: [apps\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path, "dev", now=NOW)
    assert caught.value.line == 5
    assert caught.value.column is not None
    assert "does not parse" in str(caught.value)


def test_duplicate_binding_in_an_app_is_refused_with_both_lines(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    text = (ROOT / "Pulumi.yaml").read_text()
    doubled = text.replace(
        "            AUTH_SESSION_KV:\n",
        "            CACHE_KV:\n              keyspace: x\n            AUTH_SESSION_KV:\n",
        1,
    )
    assert doubled != text
    (tmp_path / "Pulumi.yaml").write_text(doubled)
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path, "dev", now=NOW)
    assert "duplicate key 'CACHE_KV'" in str(caught.value)
    assert caught.value.line is not None


def test_error_line_points_at_the_offending_key(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("0123456789abcdef0123456789abcdef", "not-an-account")
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "not-an-account" in t)
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path, "dev", now=NOW)
    assert caught.value.line == line


def test_missing_stack_file_names_the_stacks_that_exist() -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(ROOT, "staging", now=NOW)
    assert "dev, prod" in str(caught.value)


def test_every_problem_is_listed_each_with_its_own_line(tmp_path: Path) -> None:
    project, stack = _seed()
    _set_app("codex", "kind", "lambda")(project, stack)  # schema, Pulumi.yaml
    _set_stack("kvstack:account_id", "abc")(project, stack)  # schema, Pulumi.dev.yaml
    _set_stack_app("codex", "uri", "https://x")(project, stack)  # schema, Pulumi.dev.yaml
    root = _write_project(tmp_path, project, stack)
    with pytest.raises(CatalogProblems) as caught:
        load_catalog(root, "dev", now=NOW)
    problems = caught.value.problems
    assert len(problems) == 3, caught.value
    assert [type(p) for p in problems] == [CatalogError] * 3
    assert all(isinstance(p, CatalogError) and p.line for p in problems)
    assert str(caught.value).startswith("3 problems:\n")
    assert "more problem" not in str(caught.value)


def test_rule_problems_are_all_listed_too(tmp_path: Path) -> None:
    project, stack = _seed()
    _token("chatchonk-api-runtime-2", {"role": "runtime", "app": "chatchonk-api", "permissions": ["x"]})(project, stack)
    _token("audit", {"role": "audit", "app": "codex", "permissions": ["x"]})(project, stack)
    _set_app("codex", "wrangler", {"path": "apps/pickmyclass/wrangler.jsonc", "format": "jsonc"})(project, stack)
    _set_stack_app("codex", "adopt", {"CACHE_KV": {"id": "c" * 32, "preview_id": "c" * 32}})(project, stack)
    root = _write_project(tmp_path, project, stack)
    with pytest.raises(CatalogProblems) as caught:
        load_catalog(root, "dev", now=NOW)
    text = str(caught.value)
    for words in ("already has runtime token", "account-wide", "is the file of both", "adopted twice"):
        assert words in text
    assert len(caught.value.problems) == 4
