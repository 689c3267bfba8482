"""``kvstack plan``: the real Pulumi program evaluated offline, with placeholder ids.

Nothing is created and no credentials or Pulumi CLI are needed: the program runs in-process against
mocks that answer like Cloudflare would, only with deterministic placeholders — a namespace's id is a
hash of its account and title, so the same catalog always plans the same ids — and with the
permission groups of :mod:`kvstack.permissions`. An adopted namespace keeps the id it is imported with.

The result lists every resource the program registers (type, logical name, title, protection,
import, bindings) and the outputs document, validated against its schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kvstack import names
from kvstack.errors import ProgramError
from kvstack.outputs import Outputs, parse_outputs
from kvstack.permissions import PERMISSION_GROUPS, group_by_id

if TYPE_CHECKING:
    import pulumi

    from kvstack.engine import ProgramRun, RecordedResource

__all__ = ["Plan", "PlannedResource", "TokenPolicy", "placeholder_id", "plan", "plan_mocks"]


@dataclass(frozen=True)
class TokenPolicy:
    """A token policy as planned: permission groups by name (and id) and the resources it covers."""

    effect: str
    permission_groups: tuple[str, ...]
    permission_group_ids: tuple[str, ...]
    resources: Mapping[str, str]


@dataclass(frozen=True)
class PlannedResource:
    """A resource as planned.

    ``bindings`` is, for a Pages project, ``{"production"|"preview": {BINDING: namespace id}}``;
    ``policies`` are a token's policies. Both are empty for other resources.
    """

    type: str
    name: str
    urn: str
    parent: str | None
    depth: int
    custom: bool
    title: str | None
    id: str | None
    protect: bool
    retain_on_delete: bool
    import_id: str | None
    bindings: Mapping[str, Mapping[str, str]]
    policies: tuple[TokenPolicy, ...]
    inputs: Mapping[str, Any]

    @property
    def short_type(self) -> str:
        """``WorkersKvNamespace`` for ``cloudflare:index/workersKvNamespace:WorkersKvNamespace``."""
        return self.type.rsplit(":", 1)[-1]

    @property
    def action(self) -> str:
        if not self.custom:
            return "component"
        return "import" if self.import_id else "create"


@dataclass(frozen=True)
class Plan:
    """Everything the program would do for one stack, and the outputs document it would export."""

    project: str
    stack: str
    resources: tuple[PlannedResource, ...]
    document: Mapping[str, Any]
    outputs: Outputs

    def custom_resources(self) -> list[PlannedResource]:
        return [r for r in self.resources if r.custom]

    def to_json(self) -> dict[str, Any]:
        """The machine document. The outputs document sits under the stack export's key, so
        ``--outputs plan.json`` reads it like ``pulumi stack output --json``."""
        return {
            "project": self.project,
            "stack": self.stack,
            "placeholder_ids": True,
            "resources": [
                {
                    "type": r.type,
                    "name": r.name,
                    "urn": r.urn,
                    "parent": r.parent,
                    "custom": r.custom,
                    "title": r.title,
                    "id": r.id,
                    "protect": r.protect,
                    "retain_on_delete": r.retain_on_delete,
                    "import_id": r.import_id,
                    "bindings": {environment: dict(ids) for environment, ids in r.bindings.items()},
                    "policies": [
                        {
                            "effect": p.effect,
                            "permission_groups": list(p.permission_groups),
                            "permission_group_ids": list(p.permission_group_ids),
                            "resources": dict(p.resources),
                        }
                        for p in r.policies
                    ],
                    "inputs": dict(r.inputs),
                }
                for r in self.resources
            ],
            names.OUTPUTS_EXPORT: dict(self.document),
        }


def placeholder_id(*parts: str) -> str:
    """A deterministic 32-hex id standing in for one Cloudflare would assign."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def plan(root: Path, stack: str) -> Plan:
    """Evaluate the program for ``stack`` of the project in ``root`` with placeholder ids."""
    from kvstack.engine import load_adapter, run_program

    adapter = load_adapter()
    run = run_program(root, stack, plan_mocks(adapter))
    return _plan_from(run, adapter)


def plan_mocks(adapter: ModuleType) -> pulumi.runtime.Mocks:
    """Mocks answering like Cloudflare with placeholders: ids hashed from account and title/name,
    adopted namespaces keep their id, permission groups from :mod:`kvstack.permissions`."""
    import pulumi

    class PlanMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
            state = dict(args.inputs)
            account = str(state.get("accountId", ""))
            title = adapter.read_display_name(args.typ, state) or args.name
            adopted = adapter.read_import_namespace_id(args.resource_id)
            if args.typ == adapter.KV_NAMESPACE:
                state["supportsUrlEncoding"] = True
                return adopted or placeholder_id(account, "namespace", title), state
            if args.typ == adapter.PAGES_PROJECT:
                state["subdomain"] = f"{title}.pages.dev"
                return placeholder_id(account, "pages", title), state
            if args.typ == adapter.ACCOUNT_TOKEN:
                state["status"] = "active"
                state["value"] = "placeholder-token-value-" + placeholder_id(account, "value", title)
                return placeholder_id(account, "token", title), state
            return placeholder_id(args.typ, args.name), state

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
            if args.token == adapter.PERMISSION_GROUPS_LIST:
                results = [
                    {"id": g.id, "name": g.name, "scopes": [g.scope], "category": "other", "isSelectable": True}
                    for g in PERMISSION_GROUPS
                ]
                return {"accountId": args.args.get("accountId"), "results": results}, []
            raise ProgramError(f"kvstack plan cannot answer the data source {args.token}")

    return PlanMocks()


def _plan_from(run: ProgramRun, adapter: ModuleType) -> Plan:
    export = run.exports.get(names.OUTPUTS_EXPORT)
    if export is None:
        raise ProgramError(
            f"the program exported no {names.OUTPUTS_EXPORT!r} for stack {run.stack}",
            hint="infra/__main__.py must export the outputs document under kvstack.names.OUTPUTS_EXPORT",
        )
    document = export.value
    outputs = parse_outputs(document, f"kvstack plan (stack {run.stack})")
    by_urn = {r.urn: r for r in run.resources}
    resources = tuple(
        PlannedResource(
            type=r.type,
            name=r.name,
            urn=r.urn,
            parent=by_urn[r.parent].name if r.parent in by_urn else None,
            depth=_depth(r, by_urn),
            custom=r.custom,
            title=adapter.read_display_name(r.type, r.inputs) if r.custom else None,
            id=r.id,
            protect=r.protect,
            retain_on_delete=r.retain_on_delete,
            import_id=r.import_id,
            bindings=adapter.read_pages_kv_bindings(r.inputs) if r.type == adapter.PAGES_PROJECT else {},
            policies=_policies(r, adapter),
            inputs=r.inputs,
        )
        for r in run.resources
    )
    return Plan(project=run.project, stack=run.stack, resources=resources, document=document, outputs=outputs)


def _depth(resource: RecordedResource, by_urn: Mapping[str, RecordedResource]) -> int:
    depth = 0
    parent = by_urn.get(resource.parent or "")
    while parent is not None:
        depth += 1
        parent = by_urn.get(parent.parent or "")
    return depth


def _policies(resource: RecordedResource, adapter: ModuleType) -> tuple[TokenPolicy, ...]:
    if resource.type != adapter.ACCOUNT_TOKEN:
        return ()
    return tuple(
        TokenPolicy(
            effect=str(policy["effect"]),
            permission_groups=tuple(_group_name(group_id) for group_id in policy["permission_group_ids"]),
            permission_group_ids=tuple(policy["permission_group_ids"]),
            resources=dict(policy["resources"] or {}),
        )
        for policy in adapter.read_token_policies(resource.inputs)
    )


def _group_name(group_id: str) -> str:
    group = group_by_id(group_id)
    return group.name if group else group_id
