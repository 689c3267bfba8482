"""Skips a test whose optional outside piece is absent on this machine — except in CI, where that is a failure.

A user's clone may lack `../shared` (the wrangler corpus, the OpenAPI subset) or Chromium; the test then says what
is missing and how to get it. `.ci/run` sets KVSTACK_NO_SKIP=1 so that CI can never skip such a test silently.
"""

from __future__ import annotations

import os

import pytest

NO_SKIP_VARIABLE = "KVSTACK_NO_SKIP"


def need(available: bool, what: str, how: str) -> None:
    """Skip (or, under KVSTACK_NO_SKIP, fail) the calling test when `what` is not available."""
    if available:
        return
    message = f"{what} is not available here: {how}"
    if os.environ.get(NO_SKIP_VARIABLE):
        pytest.fail(f"{message} ({NO_SKIP_VARIABLE} is set, so this may not be skipped)")
    pytest.skip(message)
