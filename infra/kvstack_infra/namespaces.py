"""A binding's namespaces: the production namespace and its preview twin."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from kvstack.catalog import Binding
from kvstack_infra import adapter, component_type

__all__ = ["BindingNamespaces", "BindingNamespacesArgs"]


@dataclass(frozen=True)
class BindingNamespacesArgs:
    """What one binding needs: its titles and adoption (from the catalog), the account, the protection."""

    binding: Binding
    account_id: str
    protect: bool


class BindingNamespaces(pulumi.ComponentResource):
    """The production namespace ``<app>-<env>-<BINDING>`` and the preview one ``…_preview``.

    Both are ordinary namespaces. An adopted binding's namespace (and its preview twin, when the
    stack names one) is imported rather than created. Protected stacks make both ``protect`` and
    ``retain_on_delete``.
    """

    namespace_id: pulumi.Output[str]
    preview_namespace_id: pulumi.Output[str]

    def __init__(self, name: str, args: BindingNamespacesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(component_type("namespaces", "BindingNamespaces"), name, None, opts)
        binding = args.binding
        adopt = binding.adopt
        production = adapter.kv_namespace(
            name,
            account_id=args.account_id,
            title=binding.title,
            protect=args.protect,
            adopt_id=adopt.id if adopt else None,
            parent=self,
        )
        preview = adapter.kv_namespace(
            f"{name}-preview",
            account_id=args.account_id,
            title=binding.preview_title,
            protect=args.protect,
            adopt_id=adopt.preview_id if adopt else None,
            parent=self,
        )
        self.namespace_id = production.id
        self.preview_namespace_id = preview.id
        self.title = binding.title
        self.preview_title = binding.preview_title
        self.register_outputs(
            {
                "id": self.namespace_id,
                "preview_id": self.preview_namespace_id,
                "title": self.title,
                "preview_title": self.preview_title,
            }
        )
