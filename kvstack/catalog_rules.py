"""The catalog's rules across apps, tokens and files: one list, :data:`RULES`, run on every load.

A rule takes the built catalog (with the two YAML documents, to place its findings) and yields one
:class:`~kvstack.errors.CatalogError` per problem, at the YAML path the problem concerns. Rules never
stop at the first problem: `kvstack validate` lists every one. To add a rule, write a function and add
it to :data:`RULES`; its test is a case in ``tests/test_catalog.py``'s MALFORMED list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kvstack import names
from kvstack.catalog import Catalog
from kvstack.errors import CatalogError
from kvstack.yamlfile import YamlDocument

__all__ = ["MAX_NAMESPACES_PER_ACCOUNT", "RULES", "Rule", "RuleContext"]

# Cloudflare's limit of KV namespaces per account (Workers KV limits, all plans).
MAX_NAMESPACES_PER_ACCOUNT = 1000

_SUFFIXES = {"toml": ".toml", "jsonc": ".jsonc", "json": ".json"}


@dataclass(frozen=True)
class RuleContext:
    catalog: Catalog
    project_doc: YamlDocument
    stack_doc: YamlDocument
    catalog_path: list[str | int]

    def app_path(self, app: str, *rest: str | int) -> list[str | int]:
        return [*self.catalog_path, "apps", app, *rest]


Rule = Callable[[RuleContext], Iterator[CatalogError]]


def unique_titles(ctx: RuleContext) -> Iterator[CatalogError]:
    """Derived titles fit Cloudflare's 512 bytes and are unique in the account (API error 10014)."""
    owners: dict[str, str] = {}
    for app, binding in ctx.catalog.bindings():
        where = ctx.app_path(app.name, "bindings", binding.name)
        for title in (binding.title, binding.preview_title):
            if len(title.encode()) > names.MAX_NAMESPACE_TITLE_BYTES:
                yield ctx.project_doc.error(
                    f"derived namespace title {title[:60]!r}… is {len(title.encode())} bytes; "
                    f"Cloudflare allows {names.MAX_NAMESPACE_TITLE_BYTES}",
                    where,
                    hint="shorten the app or binding name",
                )
                break
            owner = f"{app.name}.{binding.name}"
            if title in owners:
                yield ctx.project_doc.error(
                    f"derived namespace title {title!r} of {owner} collides with {owners[title]}; "
                    "Cloudflare refuses duplicate titles in an account (error 10014)",
                    where,
                    hint="rename one of the bindings or apps",
                )
            owners[title] = owner


def unique_pages_projects(ctx: RuleContext) -> Iterator[CatalogError]:
    """Each pages app has its own Pages project."""
    seen: dict[str, str] = {}
    for app in ctx.catalog.apps:
        if app.pages_project is None:
            continue
        if app.pages_project in seen:
            yield ctx.stack_doc.error(
                f"Pages project {app.pages_project!r} of {app.name} is also used by {seen[app.pages_project]}",
                ["config", "kvstack:apps", app.name, "pages_project"],
                hint="give each pages app its own project name",
            )
        seen[app.pages_project] = app.name


def adopted_once(ctx: RuleContext) -> Iterator[CatalogError]:
    """A namespace id is adopted by one binding slot at most (id or preview id)."""
    seen: dict[str, str] = {}
    for app, binding in ctx.catalog.bindings():
        if binding.adopt is None:
            continue
        where: list[str | int] = ["config", "kvstack:apps", app.name, "adopt", binding.name]
        for nid in filter(None, (binding.adopt.id, binding.adopt.preview_id)):
            if nid in seen:
                yield ctx.stack_doc.error(
                    f"namespace {nid} is adopted twice ({seen[nid]} and {app.name}.{binding.name})",
                    where,
                    hint="a namespace can back only one binding slot",
                )
            seen[nid] = f"{app.name}.{binding.name}"


def _reserved(relpath: str) -> str | None:
    """Why ``relpath`` may not be an app's file, or None."""
    parts = PurePosixPath(relpath).parts
    name = parts[-1] if parts else ""
    if not parts or relpath.rstrip("/") in (".", "") or name in (".", ".."):
        return "is the project folder, not a file"
    if len(parts) == 1 and name.startswith("Pulumi.") and name.endswith((".yaml", ".yml")):
        return "is a Pulumi file of the project"
    if parts[0] == "keyspaces":
        return "is inside keyspaces/, which holds key schemas"
    return None


def app_files(ctx: RuleContext) -> Iterator[CatalogError]:
    """Wrangler files and .env files: a file (not the project folder or a Pulumi file), named for its
    format, and owned by one app only (two apps on one file would overwrite each other's update)."""
    owners: dict[Path, str] = {}
    for app in ctx.catalog.apps:
        files: list[tuple[Path, str, list[str | int], str | None]] = []
        if app.wrangler is not None:
            files.append((app.wrangler.path, app.wrangler.relpath, ctx.app_path(app.name, "wrangler", "path"),
                          app.wrangler.format))  # fmt: skip
        if app.env_file is not None:
            relpath = app.env_file.relative_to(ctx.catalog.root).as_posix()
            files.append((app.env_file, relpath, ctx.app_path(app.name, "env_file"), None))
        for path, relpath, where, fmt in files:
            reason = _reserved(relpath) or ("is a folder" if path.is_dir() and not path.is_symlink() else None)
            if reason is not None:
                yield ctx.project_doc.error(f"{relpath!r} {reason}", where, hint=f"name {app.name}'s own file")
                continue
            if fmt is not None and not relpath.endswith(_SUFFIXES[fmt]):
                yield ctx.project_doc.error(
                    f"{relpath!r} is declared `format: {fmt}` but its name does not end in {_SUFFIXES[fmt]}",
                    where,
                    hint="wrangler reads the format from the name: rename the file or set the format it has",
                )
            if path in owners:
                yield ctx.project_doc.error(
                    f"{relpath!r} is the file of both {owners[path]} and {app.name}; "
                    "each render would undo the other's update",
                    where,
                    hint="give each app its own wrangler file (or .env)",
                )
            owners.setdefault(path, app.name)


def namespace_limit(ctx: RuleContext) -> Iterator[CatalogError]:
    """The stack's namespaces (two per binding: the namespace and its preview twin) fit the account."""
    count = 2 * sum(1 for _ in ctx.catalog.bindings())
    if count > MAX_NAMESPACES_PER_ACCOUNT:
        yield ctx.project_doc.error(
            f"the stack declares {count} namespaces (each binding and its preview twin); Cloudflare allows "
            f"{MAX_NAMESPACES_PER_ACCOUNT} per account",
            [*ctx.catalog_path, "apps"],
            hint="split the apps over more accounts, or drop bindings",
        )


RULES: tuple[Rule, ...] = (unique_titles, unique_pages_projects, adopted_once, app_files, namespace_limit)
