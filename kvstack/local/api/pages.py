"""Pages projects: list, get, create, update (PATCH merges, a null removes; ``name`` renames), delete.

Projects answer in the shape SDK 5.9's ``Project`` model requires; ``build_config`` and ``source`` are
validated by the SDK's own models before they are stored.
"""

from __future__ import annotations

import copy
from typing import Any

from cloudflare.types.pages.project import BuildConfig, Source
from starlette.requests import Request
from starlette.responses import Response

from kvstack.local.api.context import context_of
from kvstack.local.api.envelope import ApiError, paged, success
from kvstack.local.api.limits import CODE_PROJECT_EXISTS, CODE_PROJECT_NOT_FOUND
from kvstack.local.api.routing import resource
from kvstack.local.api.shapes import PageQuery, ProjectCreate, ProjectEdit
from kvstack.local.api.store import new_id, now_rfc3339
from kvstack.local.api.validation import parse_body, parse_query, validated

__all__ = ["routes"]

BASE = "/client/v4/accounts/{account_id}/pages/projects"
_CONFIG_DEFAULTS: dict[str, Any] = {
    "compatibility_date": "2025-09-01",
    "compatibility_flags": [],
    "env_vars": {},
    "kv_namespaces": {},
    "d1_databases": {},
    "durable_object_namespaces": {},
    "r2_buckets": {},
    "services": {},
    # Required by SDK 5.9's Project model (absent from the 2024 schema): Cloudflare's defaults.
    "always_use_latest_compatibility_date": False,
    "build_image_major_version": 3,
    "fail_open": True,
    "usage_model": "standard",
}
_PROJECT_DEFAULTS: dict[str, Any] = {
    "framework": "",
    "framework_version": "",
    "preview_script_name": "",
    "production_script_name": "",
}


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Cloudflare's PATCH: maps merge key by key, and a null removes the key."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _view(project: dict[str, Any]) -> dict[str, Any]:
    """The project as the SDK's model wants it, defaults filled in for projects stored before they existed."""
    view = {**_PROJECT_DEFAULTS, **copy.deepcopy(project)}
    configs = view.setdefault("deployment_configs", {})
    for environment in ("production", "preview"):
        configs[environment] = {**_CONFIG_DEFAULTS, **(configs.get(environment) or {})}
    return view


def _project(request: Request) -> dict[str, Any]:
    found = context_of(request).store.projects.get(request.path_params["project_name"])
    if found is None:
        raise ApiError(
            404,
            CODE_PROJECT_NOT_FOUND,
            "Project not found. The specified project name does not match any of your existing projects.",
        )
    return found


def _apply(project: dict[str, Any], body: ProjectEdit) -> None:
    if body.production_branch is not None:
        project["production_branch"] = body.production_branch
    if body.build_config is not None:
        project["build_config"] = validated(BuildConfig, body.build_config, root="body.build_config").model_dump(
            exclude_none=True
        )
    if body.source is not None:
        project["source"] = validated(Source, body.source, root="body.source").model_dump(exclude_none=True)
    if body.deployment_configs is not None:
        _merge(project["deployment_configs"], body.deployment_configs.model_dump(exclude_unset=True))


async def list_projects(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "pages.read")
    query = parse_query(request, PageQuery)
    projects = sorted(context.store.projects.values(), key=lambda p: str(p["name"]))
    return paged([_view(p) for p in projects], query.page, query.per_page, default=10)


async def get_project(request: Request) -> Response:
    context_of(request).authorize(request, "pages.read")
    return success(_view(_project(request)))


async def create_project(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "pages.write")
    body = await parse_body(request, ProjectCreate, empty={})
    if body.name in context.store.projects:
        raise ApiError(409, CODE_PROJECT_EXISTS, "A project with this name already exists.")
    project: dict[str, Any] = {
        "id": new_id(),
        "name": body.name,
        "subdomain": f"{body.name}.pages.dev",
        "domains": [f"{body.name}.pages.dev"],
        "created_on": now_rfc3339(),
        "production_branch": "main",
        "source": None,
        "build_config": {},
        "deployment_configs": {
            "production": copy.deepcopy(_CONFIG_DEFAULTS),
            "preview": copy.deepcopy(_CONFIG_DEFAULTS),
        },
        "latest_deployment": None,
        "canonical_deployment": None,
        **_PROJECT_DEFAULTS,
    }
    _apply(project, body)
    context.store.projects[body.name] = project
    context.store.save()
    return success(_view(project))


async def update_project(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "pages.write")
    project = _project(request)
    body = await parse_body(request, ProjectEdit, empty={})
    _apply(project, body)
    if body.name is not None and body.name != project["name"]:
        if body.name in context.store.projects:
            raise ApiError(409, CODE_PROJECT_EXISTS, "A project with this name already exists.")
        del context.store.projects[project["name"]]
        project.update(name=body.name, subdomain=f"{body.name}.pages.dev", domains=[f"{body.name}.pages.dev"])
        context.store.projects[body.name] = project
    context.store.save()
    return success(_view(project))


async def delete_project(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "pages.write")
    project = _project(request)
    del context.store.projects[project["name"]]
    context.store.save()
    return success(None)


routes = [
    *resource(BASE, GET=list_projects, POST=create_project),
    *resource(BASE + "/{project_name}", GET=get_project, PATCH=update_project, DELETE=delete_project),
]
