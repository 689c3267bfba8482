"""Running the checks in-process through pytest, for `kvstack check`: the plugin gets a ready context.

The run is isolated from whatever pytest configuration the current folder has (``-c /dev/null``),
pytest's own terminal output is off, and a listener sees every check start and finish.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from checks.context import CheckContext
from checks.plugin import CHECKS_DIR, CONTEXT_KEY, RESULTS_KEY
from checks.report import CheckResult, RunResults
from kvstack.errors import EXIT_CONFIG

__all__ = ["Listener", "RunOutcome", "run_checks"]


class Listener(Protocol):
    def started(self, total: int) -> None: ...
    def checking(self, nodeid: str) -> None: ...
    def finished(self, result: CheckResult) -> None: ...


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    results: RunResults
    pytest_exit_code: int


class _Bridge:
    """Hands the context to the plugin and the plugin's progress to the listener."""

    def __init__(self, context: CheckContext, listener: Listener | None) -> None:
        self.context = context
        self.listener = listener
        self.results: RunResults | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[CONTEXT_KEY] = self.context

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.results = session.config.stash[RESULTS_KEY]
        if self.listener:
            self.listener.started(len(session.items))

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if self.listener:
            self.listener.checking(nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        if self.listener and self.results and nodeid in self.results.results:
            self.listener.finished(self.results.results[nodeid])


def run_checks(
    context: CheckContext,
    *,
    junit: Path | None = None,
    json_report: Path | None = None,
    keyword: str | None = None,
    listener: Listener | None = None,
    extra_args: list[str] | None = None,
) -> RunOutcome:
    """Run every selected check of ``context`` and return the verdicts (and write JUnit / JSON if asked)."""
    args = [
        str(CHECKS_DIR),
        "-c",
        os.devnull,
        "--rootdir",
        str(CHECKS_DIR.parent),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        "-p",
        "no:xdist",
        "--kvstack-stack",
        context.options.stack,
    ]
    if junit is not None:
        args += [f"--junitxml={junit}", "-o", "junit_family=xunit1", "-o", "junit_suite_name=kvstack-check"]
    if json_report is not None:
        args += ["--kvstack-json", str(json_report)]
    if keyword:
        args += ["-k", keyword]
    bridge = _Bridge(context, listener)
    code = int(pytest.main([*args, *(extra_args or [])], plugins=[bridge]))
    results = bridge.results or RunResults()
    if code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return RunOutcome(results.exit_code(context.options.allow_skip), results, code)
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        results.collection_errors.append("no check matched the selection (--app, --only, -k)")
    return RunOutcome(EXIT_CONFIG, results, code)
