"""Pages projects: list, get, create, update (PATCH merges; a null removes), delete."""

from __future__ import annotations

import copy
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kvstack.local.api.context import context_of
from kvstack.local.api.envelope import CODE_BAD_REQUEST, CODE_PROJECT_NOT_FOUND, ApiError, json_object, paged, success
from kvstack.local.api.store import new_id, now_rfc3339

__all__ = ["routes"]

BASE = "/client/v4/accounts/{account_id}/pages/projects"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_CONFIG_DEFAULTS: dict[str, Any] = {
    "compatibility_date": "2025-09-01",
    "compatibility_flags": [],
    "env_vars": {},
    "kv_namespaces": {},
    "d1_databases": {},
    "durable_object_namespaces": {},
    "r2_buckets": {},
    "services": {},
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


def _project(request: Request) -> dict[str, Any]:
    found = context_of(request).store.projects.get(request.path_params["project_name"])
    if found is None:
        raise ApiError(
            404,
            CODE_PROJECT_NOT_FOUND,
            "Project not found. The specified project name does not match any of your existing projects.",
        )
    return found


async def list_projects(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "pages.read")
    projects = sorted(context.store.projects.values(), key=lambda p: p["name"])
    return paged(projects, request.query_params, per_page=10)


async def get_project(request: Request) -> Response:
    context_of(request).authorize(request, "pages.read")
    return success(_project(request))


async def create_project(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "pages.write")
    body = await json_object(request)
    name = body.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or len(name) > 58:
        raise ApiError(400, CODE_BAD_REQUEST, "name must match ^[a-z0-9][a-z0-9-]*$ (at most 58 characters)")
    if name in context.store.projects:
        raise ApiError(409, 8000002, "A project with this name already exists.")
    project: dict[str, Any] = {
        "id": new_id(),
        "name": name,
        "subdomain": f"{name}.pages.dev",
        "domains": [f"{name}.pages.dev"],
        "created_on": now_rfc3339(),
        "production_branch": body.get("production_branch") or "main",
        "source": body.get("source"),
        "build_config": body.get("build_config") or {},
        "deployment_configs": {
            "production": copy.deepcopy(_CONFIG_DEFAULTS),
            "preview": copy.deepcopy(_CONFIG_DEFAULTS),
        },
        "latest_deployment": None,
        "canonical_deployment": None,
    }
    _merge(project["deployment_configs"], body.get("deployment_configs") or {})
    context.store.projects[name] = project
    context.store.save()
    return success(project)


async def update_project(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "pages.write")
    project = _project(request)
    body = await json_object(request)
    if body.get("name") not in (None, project["name"]):
        raise ApiError(400, CODE_BAD_REQUEST, "a project cannot be renamed")
    for key in ("production_branch", "build_config", "source"):
        if key in body:
            project[key] = body[key]
    _merge(project["deployment_configs"], body.get("deployment_configs") or {})
    context.store.save()
    return success(project)


async def delete_project(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "pages.write")
    project = _project(request)
    del context.store.projects[project["name"]]
    context.store.save()
    return success(None)


routes = [
    Route(BASE, list_projects, methods=["GET"]),
    Route(BASE, create_project, methods=["POST"]),
    Route(BASE + "/{project_name}", get_project, methods=["GET"]),
    Route(BASE + "/{project_name}", update_project, methods=["PATCH"]),
    Route(BASE + "/{project_name}", delete_project, methods=["DELETE"]),
]
