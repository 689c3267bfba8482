"""Bindings: every namespace exists under its title, and every deployed app binds exactly the declared ids."""

from __future__ import annotations

import warnings

from checks.notice import CheckWarning
from checks.resources import (
    AppHealth,
    NamespaceResource,
    PagesDeployment,
    WorkerScript,
    WranglerFileResource,
    binding_problems,
)


def test_namespace_exists_with_its_title(namespace: NamespaceResource) -> None:
    assert namespace.exists, (
        f"namespace {namespace.id} of {namespace.label}: expected it to exist with title "
        f"{namespace.expected_title!r}; found no namespace with this id in the account"
    )
    assert namespace.title == namespace.expected_title, (
        f"namespace {namespace.id} of {namespace.label}: expected title {namespace.expected_title!r}; "
        f"found {namespace.title!r}"
    )


def test_pages_deployment_binds_the_declared_ids(
    pages_deployment: PagesDeployment, stack_titles: dict[str, str]
) -> None:
    assert pages_deployment.exists, (
        f"{pages_deployment.label}: expected the project to exist; found no Pages project "
        f"{pages_deployment.project!r} in the account"
    )
    errors, notes = binding_problems(
        pages_deployment.declared,
        pages_deployment.kv_bindings,
        optional=pages_deployment.optional,
        titles=stack_titles,
    )
    for note in notes:
        warnings.warn(CheckWarning(f"{pages_deployment.label}: {note}"), stacklevel=1)
    assert not errors, f"{pages_deployment.label} binds other KV namespaces than declared:\n  " + "\n  ".join(errors)


def test_worker_settings_list_the_declared_bindings(worker_script: WorkerScript, stack_titles: dict[str, str]) -> None:
    assert worker_script.exists, (
        f"{worker_script.label} of {worker_script.app}: expected a deployed Worker; "
        f"found no script named {worker_script.script!r}"
    )
    errors, notes = binding_problems(
        worker_script.declared, worker_script.kv_bindings, optional=worker_script.optional, titles=stack_titles
    )
    for note in notes:
        warnings.warn(CheckWarning(f"{worker_script.label}: {note}"), stacklevel=1)
    assert not errors, f"{worker_script.label} settings list other KV bindings than declared:\n  " + "\n  ".join(errors)


def test_wrangler_file_matches_the_outputs(wrangler_file: WranglerFileResource) -> None:
    problems = wrangler_file.problems
    assert not problems, (
        f"{wrangler_file.label} of {wrangler_file.app}: expected the ids of the outputs "
        "(`kvstack render --check` clean); found:\n  " + "\n  ".join(problems)
    )


def test_app_reports_its_bindings_available(app_health: AppHealth) -> None:
    status, body = app_health.answer
    missing = app_health.missing
    assert status == 200, (
        f"{app_health.label}: expected HTTP 200 with every required binding available; found HTTP {status}"
        + (f", missing bindings {', '.join(missing)}" if missing else f": {body}")
    )
    assert not missing, f"{app_health.label}: expected every required binding; found missing {', '.join(missing)}"
