"""An app's resources: the namespaces of each binding and, for a Pages app, its project bindings."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from kvstack.catalog import App
from kvstack_infra import adapter, component_type
from kvstack_infra.namespaces import BindingNamespaces, BindingNamespacesArgs

__all__ = ["AppResources", "AppResourcesArgs"]


@dataclass(frozen=True)
class AppResourcesArgs:
    """One app of the catalog, the account it lives in and whether its data is protected."""

    app: App
    account_id: str
    protect: bool


class AppResources(pulumi.ComponentResource):
    """Every binding's namespaces; a Pages app also gets its project, bound to them.

    The project's production deployments bind the production namespaces and its preview
    deployments the preview twins. Pulumi owns the project's ``deployment_configs``.
    """

    app: App
    bindings: dict[str, BindingNamespaces]
    pages_project: str | None

    def __init__(self, name: str, args: AppResourcesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(component_type("app", "App"), name, None, opts)
        app = args.app
        self.app = app
        self.bindings = {
            binding.name: BindingNamespaces(
                f"{name}-{binding.name}",
                BindingNamespacesArgs(binding=binding, account_id=args.account_id, protect=args.protect),
                pulumi.ResourceOptions(parent=self),
            )
            for binding in app.bindings
        }
        self.pages_project = app.pages_project
        if app.kind == "pages":
            if app.pages_project is None or app.production_branch is None:
                raise ValueError(f"pages app {app.name}: the catalog gave no project name or production branch")
            adapter.pages_project(
                name,
                account_id=args.account_id,
                project_name=app.pages_project,
                production_branch=app.production_branch,
                production_ids={b: ns.namespace_id for b, ns in self.bindings.items()},
                preview_ids={b: ns.preview_namespace_id for b, ns in self.bindings.items()},
                parent=self,
            )
        self.register_outputs(
            {
                "kind": app.kind,
                "pages_project": self.pages_project,
                "bindings": {
                    b: {"id": ns.namespace_id, "preview_id": ns.preview_namespace_id} for b, ns in self.bindings.items()
                },
            }
        )
