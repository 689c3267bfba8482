"""A namespace scanned against its keyspace: every key listed, a sample (or all) of the values read.

The resource the keyspace checks (``checks/keyspaces.py``) assert on; it runs the engine's scan
(``kvstack/keyspace/scan.py``) over the Cloudflare API.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from kvstack.cloudflare import CloudflareApi
from kvstack.errors import CloudflareError
from kvstack.keyspace import Keyspace, ScanReport, scan_namespace

__all__ = ["KeyspaceResource"]


@dataclass
class KeyspaceResource:
    api: CloudflareApi
    app: str
    binding: str
    preview: bool
    namespace_id: str
    title: str
    keyspace: Keyspace
    sample: int | None  # None: read every value (--deep)

    @property
    def label(self) -> str:
        return f"{self.app}.{self.binding}{' (preview)' if self.preview else ''}"

    @cached_property
    def scan(self) -> ScanReport:
        try:
            return scan_namespace(self.api, self.namespace_id, self.keyspace, sample=self.sample)
        except CloudflareError as error:
            if error.status == 404:
                raise AssertionError(
                    f"namespace {self.title} ({self.namespace_id}) of {self.label}: expected it to exist to scan it; "
                    f"found none ({error.message})"
                ) from error
            raise
