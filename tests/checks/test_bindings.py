"""Bindings checks: each planted defect fails one specific check with what was expected and found."""

from __future__ import annotations

from pathlib import Path

from .conftest import World


def _only_failure(world: World, *kinds: str) -> tuple[str, str]:
    outcome = world.run(*kinds)
    failures = world.failures(outcome)
    assert len(failures) == 1, failures
    assert outcome.exit_code == 1
    [(name, message)] = failures.items()
    return name, message


def test_deleted_namespace_fails_its_existence_check(world: World) -> None:
    ids = world.ids("pickmyclass", "KV")
    del world.fake.namespaces[ids["id"]]
    name, message = _only_failure(world, "bindings")
    assert name == "test_namespace_exists_with_its_title[pickmyclass.KV]"
    assert message == (
        f"namespace {ids['id']} of pickmyclass.KV: expected it to exist with title 'pickmyclass-dev-KV'; "
        "found no namespace with this id in the account"
    )


def test_renamed_namespace_fails_on_its_title(world: World) -> None:
    ids = world.ids("codex", "CACHE_KV")
    world.fake.namespaces[ids["preview_id"]].title = "codex-CACHE_KV-preview"
    name, message = _only_failure(world, "bindings")
    assert name == "test_namespace_exists_with_its_title[codex.CACHE_KV (preview)]"
    assert "expected title 'codex-dev-CACHE_KV_preview'; found 'codex-CACHE_KV-preview'" in message


def test_pages_binding_pointing_at_the_preview_id_is_named(world: World) -> None:
    ids = world.ids("dubai-app-front", "CHART_KV")
    production = world.fake.pages["dubai-app-front-dev"]["deployment_configs"]["production"]
    production["kv_namespaces"]["CHART_KV"] = {"namespace_id": ids["preview_id"]}
    name, message = _only_failure(world, "bindings")
    assert name == "test_pages_deployment_binds_the_declared_ids[dubai-app-front production]"
    assert (
        f"CHART_KV: expected {ids['id']} (dubai-app-front-dev-CHART_KV); "
        f"found {ids['preview_id']} (dubai-app-front-dev-CHART_KV_preview)"
    ) in message
    assert message.startswith("Pages project dubai-app-front-dev, production deployment config binds other")


def test_extra_kv_binding_on_a_pages_project_fails(world: World) -> None:
    preview = world.fake.pages["dubai-app-front-dev"]["deployment_configs"]["preview"]
    preview["kv_namespaces"]["OTHER_KV"] = {"namespace_id": "e" * 32}
    _, message = _only_failure(world, "bindings")
    assert f"OTHER_KV: expected no such KV binding; found one bound to {'e' * 32} (not a namespace of this stack)" in (
        message
    )


def test_missing_optional_binding_warns_without_failing(world: World) -> None:
    production = world.fake.pages["dubai-app-front-dev"]["deployment_configs"]["production"]
    del production["kv_namespaces"]["WEBHOOK_KV"]
    outcome = world.run("bindings")
    assert world.failures(outcome) == {}
    [result] = [r for r in outcome.results.ordered() if r.warnings]
    assert result.name == "test_pages_deployment_binds_the_declared_ids[dubai-app-front production]"
    assert "WEBHOOK_KV: expected" in result.warnings[0]
    assert "found no such KV binding (optional)" in result.warnings[0]


def test_worker_whose_kv_binding_is_missing_fails(world: World) -> None:
    settings = world.fake.scripts["codex-staging"]
    settings["bindings"] = [b for b in settings["bindings"] if b.get("name") != "CACHE_KV"]
    name, message = _only_failure(world, "bindings")
    assert name == "test_worker_settings_list_the_declared_bindings[codex env.staging]"
    ids = world.ids("codex", "CACHE_KV")
    assert f"CACHE_KV: expected {ids['id']} (codex-dev-CACHE_KV); found no such KV binding" in message


def test_worker_not_deployed_fails(world: World) -> None:
    del world.fake.scripts["pickmyclass"]
    name, message = _only_failure(world, "bindings")
    assert name == "test_worker_settings_list_the_declared_bindings[pickmyclass top]"
    assert message == (
        "Worker pickmyclass of pickmyclass: expected a deployed Worker; found no script named 'pickmyclass'"
    )


def test_placeholder_id_in_a_wrangler_file_fails_through_render(world: World) -> None:
    path: Path = world.root / "apps" / "codex" / "wrangler.toml"
    ids = world.ids("codex", "AUTH_SESSION_KV")
    path.write_text(path.read_text().replace(ids["id"], "PLACEHOLDER_AUTH_SESSION_KV_ID", 1))
    name, message = _only_failure(world, "bindings")
    assert name == "test_wrangler_file_matches_the_outputs[apps/codex/wrangler.toml]"
    assert "apps/codex/wrangler.toml of codex: expected the ids of the outputs" in message
    assert (
        "placeholder: id of AUTH_SESSION_KV in the [env.staging] is the placeholder "
        f"'PLACEHOLDER_AUTH_SESSION_KV_ID'; the outputs say {ids['id']}"
    ) in message
