"""Keyspaces written on the fly, and a fake KV source that counts what a scan asks for."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import yaml

from kvstack.keyspace import Keyspace, ListedKey, load_keyspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def write_keyspace(tmp_path: Path) -> Callable[[str, Any], Keyspace]:
    """Write ``keyspaces/<name>.yaml`` under a temporary root and load it."""

    def write(name: str, document: Any) -> Keyspace:
        folder = tmp_path / "keyspaces"
        folder.mkdir(exist_ok=True)
        text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
        (folder / f"{name}.yaml").write_text(text)
        return load_keyspace(tmp_path, name)

    return write


class FakeSource:
    """Key pages and values in memory; records every list page and bulk get it serves."""

    def __init__(self, keys: Sequence[ListedKey], values: Mapping[str, str], page_size: int = 1000) -> None:
        self.keys = list(keys)
        self.values = dict(values)
        self.page_size = page_size
        self.empty_pages_at: set[int] = set()
        self.list_requests = 0
        self.bulk_gets: list[list[str]] = []

    def list_key_pages(self, namespace_id: str) -> Iterator[Sequence[ListedKey]]:
        page_number = 0
        for start in range(0, len(self.keys), self.page_size):
            while page_number in self.empty_pages_at:
                self.list_requests += 1
                page_number += 1
                yield []
            self.list_requests += 1
            page_number += 1
            yield self.keys[start : start + self.page_size]

    def submit_bulk_get(self, namespace_id: str, keys: Sequence[str]) -> Future[Mapping[str, str | None]]:
        assert len(keys) <= 100, f"a bulk get of {len(keys)} keys; Cloudflare allows 100"
        self.bulk_gets.append(list(keys))
        future: Future[Mapping[str, str | None]] = Future()
        future.set_result({key: self.values.get(key) for key in keys})
        return future


@pytest.fixture
def seed_keyspace() -> Callable[[str], Keyspace]:
    return lambda name: load_keyspace(ROOT, name)
