"""One real local Upstash (valkey-server + REST front) per test module, on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvstack.local.upstash import UpstashEndpoint, start_upstash
from kvstack.local.wrangler import stop_process


@pytest.fixture(scope="module")
def upstash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstashEndpoint]:
    folder = tmp_path_factory.mktemp("upstash")
    endpoint = start_upstash(folder / "upstash", folder / "logs")
    try:
        yield endpoint
    finally:
        for record in reversed(endpoint.processes):
            stop_process(record.pid)


@pytest.fixture
def folder_of(upstash: UpstashEndpoint) -> Path:
    return upstash.tokens.read_write_file.parent
