"""A KV namespace the outputs declare: does it exist, under its derived title."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from kvstack.cloudflare import CloudflareApi, Namespace

__all__ = ["NamespaceResource"]


@dataclass
class NamespaceResource:
    api: CloudflareApi
    app: str
    binding: str
    preview: bool
    id: str
    expected_title: str

    @property
    def label(self) -> str:
        return f"{self.app}.{self.binding}{' (preview)' if self.preview else ''}"

    @cached_property
    def found(self) -> Namespace | None:
        return self.api.get_namespace(self.id)

    @property
    def exists(self) -> bool:
        return self.found is not None

    @property
    def title(self) -> str | None:
        return self.found.title if self.found else None
