"""Fixtures for the program's tests: runs of the real program against the fake Cloudflare (tests/pulumi_fake.py)."""

from __future__ import annotations

import pytest

from kvstack.engine import ProgramRun
from tests.pulumi_fake import FakeCloudflare, run


@pytest.fixture(scope="session")
def dev_fake() -> FakeCloudflare:
    return FakeCloudflare()


@pytest.fixture(scope="session")
def dev_run(dev_fake: FakeCloudflare) -> ProgramRun:
    return run("dev", mocks=dev_fake)


@pytest.fixture(scope="session")
def prod_run() -> ProgramRun:
    return run("prod")
