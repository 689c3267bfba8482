"""The pytest plugin behind ``pytest checks --kvstack-stack S`` and ``kvstack check``.

It builds the run's :class:`~checks.context.CheckContext` once (or takes the one ``kvstack check``
built), collects the check modules (``bindings``, ``tokens``, ``keyspaces``, ``flows``), runs each
check once per resource the catalog declares (``def test_x(namespace)`` runs per namespace; one the
outputs lack fails, naming it), records every verdict with its app and kind, deletes every smoke key
at the end, looks for smoke data left in shared keys, and writes the JSON report.

Never green by omission: a skipped check fails the run unless its kind is allowed to skip
(``--kvstack-allow-skip KIND``), and so do smoke residue and a declared resource the outputs lack.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from checks.context import (
    ALLOW_SKIP_ENV,
    CHECK_KINDS,
    DEFAULT_CONSISTENCY_WINDOW,
    DEFAULT_EXPIRY_DAYS,
    CheckContext,
    CheckOptions,
)
from checks.notice import CheckWarning
from checks.params import PROVIDERS, titles
from checks.report import CheckResult, RunResults, ScanEntry, build_report, write_report
from checks.residue import find_residue
from checks.resources import FlowApp, KeyspaceResource, MissingFromOutputs
from checks.resources.store import StoreResource
from kvstack.errors import KvstackError

__all__ = [
    "CHECKS_DIR",
    "CONTEXT_KEY",
    "RESULTS_KEY",
    "expiry_days",
    "kvstack_context",
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_runtest_makereport",
    "pytest_runtest_protocol",
    "pytest_sessionfinish",
    "pytest_sessionstart",
    "stack_titles",
]

CHECKS_DIR = Path(__file__).resolve().parent
CONTEXT_KEY = pytest.StashKey[CheckContext]()
RESULTS_KEY = pytest.StashKey[RunResults]()
_OWNED_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kvstack", "kvstack post-deploy checks")
    group.addoption(
        "--kvstack-stack", default=os.environ.get("KVSTACK_STACK"), help="The stack to check [env: KVSTACK_STACK]"
    )
    group.addoption("--kvstack-root", default=None, help="The project folder holding Pulumi.yaml (default: cwd)")
    group.addoption("--kvstack-local", action="store_true", help="Check the running `kvstack local up`")
    group.addoption("--kvstack-app", action="append", default=[], help="Only this app's checks (repeatable)")
    group.addoption("--kvstack-only", default=None, help=f"Comma-separated kinds: {','.join(CHECK_KINDS)}")
    group.addoption("--kvstack-sample", type=int, default=100, help="Values read per key pattern (default 100)")
    group.addoption("--kvstack-deep", action="store_true", help="Read every value")
    group.addoption("--kvstack-outputs", default=None, help="The outputs document (default: pulumi / local state)")
    group.addoption("--kvstack-api-url", default=None, help="Cloudflare API base URL [env: CLOUDFLARE_API_BASE_URL]")
    group.addoption("--kvstack-expiry-days", type=int, default=DEFAULT_EXPIRY_DAYS, help="Token expiry margin")
    group.addoption(
        "--kvstack-window", type=float, default=DEFAULT_CONSISTENCY_WINDOW, help="KV consistency window, seconds"
    )
    group.addoption("--kvstack-json", default=None, help="Write the JSON report to this file")
    group.addoption(
        "--kvstack-allow-skip",
        action="append",
        default=_allowed_from_env(),
        help=f"A check kind whose skips do not fail the run (repeatable) [env: {ALLOW_SKIP_ENV}, comma-separated]",
    )


def _allowed_from_env() -> list[str]:
    return [k.strip() for k in os.environ.get(ALLOW_SKIP_ENV, "").split(",") if k.strip()]


def _kinds(option: str, values: list[str]) -> tuple[Any, ...]:
    unknown = [k for k in values if k not in CHECK_KINDS]
    if unknown:
        raise pytest.UsageError(f"{option}: unknown kind(s) {', '.join(unknown)}; kinds: {', '.join(CHECK_KINDS)}")
    return tuple(dict.fromkeys(values))


def options_from(config: pytest.Config) -> CheckOptions:
    """The run's options from the command line; a UsageError names the one that is wrong."""
    stack = config.getoption("kvstack_stack")
    if not stack:
        raise pytest.UsageError("kvstack checks need a stack: pass --kvstack-stack S (or set KVSTACK_STACK)")
    only_text = config.getoption("kvstack_only")
    only = (
        _kinds("--kvstack-only", [k.strip() for k in only_text.split(",") if k.strip()]) if only_text else CHECK_KINDS
    )
    allow_skip = _kinds("--kvstack-allow-skip", [k.strip() for k in config.getoption("kvstack_allow_skip") or []])
    root = config.getoption("kvstack_root")
    outputs = config.getoption("kvstack_outputs")
    return CheckOptions(
        stack=stack,
        root=Path(root).resolve() if root else Path.cwd(),
        local=bool(config.getoption("kvstack_local")),
        apps=tuple(config.getoption("kvstack_app")),
        only=only,
        sample=config.getoption("kvstack_sample"),
        deep=bool(config.getoption("kvstack_deep")),
        outputs_file=Path(outputs) if outputs else None,
        api_url=config.getoption("kvstack_api_url"),
        expiry_days=config.getoption("kvstack_expiry_days"),
        consistency_window=config.getoption("kvstack_window"),
        allow_skip=allow_skip,
    )


def pytest_configure(config: pytest.Config) -> None:
    results = RunResults()
    config.stash[RESULTS_KEY] = results
    config.pluginmanager.register(Recorder(results), "kvstack-recorder")
    config.addinivalue_line("markers", "kvstack_kind(kind): the check kind (set by the kvstack plugin)")


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if config.option.help or CONTEXT_KEY in config.stash:
        return
    from checks.context import build_context

    try:
        config.stash[CONTEXT_KEY] = build_context(options_from(config))
    except KvstackError as error:
        raise pytest.UsageError(str(error)) from error
    config.stash[_OWNED_KEY] = True


def context_of(config: pytest.Config) -> CheckContext:
    return config.stash[CONTEXT_KEY]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.parent != CHECKS_DIR or file_path.suffix != ".py" or file_path.stem not in CHECK_KINDS:
        return None
    if CONTEXT_KEY in parent.config.stash and file_path.stem not in context_of(parent.config).options.only:
        return None
    module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
    return module


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    context = context_of(metafunc.config)
    declared = metafunc.config.stash[RESULTS_KEY].declared
    kind = metafunc.module.__name__.rsplit(".", 1)[-1]
    apps = set(context.options.apps)
    for name, provide in PROVIDERS.items():
        if name in metafunc.fixturenames:
            params = provide(context)
            declared.setdefault(kind, set()).update(
                resource_key(name, p.id) for p in params if not apps or p.app in apps
            )
            metafunc.parametrize(name, [p.resource for p in params], ids=[p.id for p in params], indirect=True)


def resource_key(fixture: str, param_id: str) -> str:
    """One declared resource of a check kind, whichever checks run over it: ``token[audit]``."""
    return f"{fixture}[{param_id}]"


def _kind(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    return module.__name__.rsplit(".", 1)[-1] if module is not None else "unknown"


def _resource_of(item: pytest.Item) -> Any:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for name in PROVIDERS:
        if name in callspec.params:
            return callspec.params[name]
    return None


def _resource_key_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for name in PROVIDERS:
        if name in callspec.params:
            return resource_key(name, callspec.id)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    context = context_of(config)
    apps = set(context.options.apps)
    kept, dropped = [], []
    for item in items:
        resource = _resource_of(item)
        app = getattr(resource, "app", None)
        empty = any(
            str(m.kwargs.get("reason", "")).startswith("got empty parameter set") for m in item.iter_markers("skip")
        )
        if empty or (apps and app not in apps):
            dropped.append(item)
            continue
        kind = _kind(item)
        item.user_properties.extend(
            [("kind", kind), ("app", app or "(account)"), ("resource", str(getattr(resource, "label", item.name)))]
        )
        key = _resource_key_of(item)
        if key is not None:
            config.stash[RESULTS_KEY].resource_keys[item.nodeid] = key
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    # Bindings and tokens first, flows last: a flow's smoke data never meets a keyspace scan in progress.
    order: dict[str, int] = {kind: index for index, kind in enumerate(CHECK_KINDS)}
    kept.sort(key=lambda item: order.get(_kind(item), len(order)))
    items[:] = kept


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Once the run has ended (token refused, API unreachable, deadline passed), no further check runs."""
    ended = context_of(item.config).api.run_ended()
    if ended is None:
        return None
    item.session.shouldstop = f"the run ended early: {ended.message}"
    return True  # this check is not run; pytest stops the session (exit 2) and finishes it as usual


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    excinfo = call.excinfo
    if isinstance(_resource_of(item), MissingFromOutputs):
        report.kvstack_missing = True
    if excinfo is not None and not isinstance(excinfo.value, pytest.skip.Exception):
        error = excinfo.value
        if isinstance(error, AssertionError | pytest.fail.Exception):
            message = str(error).split("\nassert ")[0]
        elif isinstance(error, KvstackError):
            message = str(error)
            report.kvstack_environment_error = error.exit_code == 2
        else:
            request = getattr(error, "request", None)
            where = f" ({request.method} {request.url})" if request is not None else ""
            message = f"{type(error).__name__}{where}: {error}"
        report.kvstack_message = message
    elif excinfo is not None:
        report.kvstack_message = str(excinfo.value.msg) if hasattr(excinfo.value, "msg") else str(excinfo.value)
    return report


class Recorder:
    """Records every verdict as it is reported (registered per session; holds no global state)."""

    def __init__(self, results: RunResults) -> None:
        self.results = results

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        result = self.results.results.get(report.nodeid)
        if result is None:
            name = report.nodeid.split("::")[-1]
            app = props.get("app")
            result = CheckResult(
                nodeid=report.nodeid,
                name=name,
                kind=str(props.get("kind", "unknown")),
                app=None if app in (None, "(account)") else str(app),
                resource=str(props.get("resource", name)),
                resource_key=self.results.resource_keys.get(report.nodeid),
            )
            self.results.results[report.nodeid] = result
        result.duration += report.duration
        message = getattr(report, "kvstack_message", None)
        if report.skipped and result.outcome == "passed":
            result.outcome = "skipped"
            result.message = message or _skip_reason(report)
        elif report.failed:
            missing = getattr(report, "kvstack_missing", False)
            result.outcome = "failed" if report.when == "call" or missing else "error"
            result.message = message or str(report.longrepr)
            result.missing = missing
            if getattr(report, "kvstack_environment_error", False):
                result.outcome = "error"
                result.environment_error = True

    def pytest_warning_recorded(self, warning_message: Any, when: str, nodeid: str, location: Any) -> None:
        if issubclass(warning_message.category, CheckWarning):
            self.results.warnings.setdefault(nodeid, []).append(str(warning_message.message))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            lines = report.longreprtext.strip().splitlines() or ["collection failed"]
            self.results.collection_errors.append(f"{report.nodeid}: {lines[-1]}")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if CONTEXT_KEY not in config.stash:
        return
    context = context_of(config)
    results = config.stash[RESULTS_KEY]
    for nodeid, notes in results.warnings.items():
        if nodeid in results.results:
            results.results[nodeid].warnings.extend(notes)
    for item in session.items:
        resource = _resource_of(item)
        if isinstance(resource, KeyspaceResource) and "scan" in resource.__dict__:
            results.scans.append(
                ScanEntry(
                    resource.app,
                    resource.binding,
                    resource.preview,
                    resource.title,
                    resource.keyspace.name,
                    resource.scan,
                )
            )
    sweep_smoke(context, results)
    ran_flows = any(r.kind == "flows" and r.outcome != "skipped" for r in results.ordered())
    if ran_flows and context.api.fatal is None:  # an ended run cannot look for residue
        residue, errors = find_residue(context)
        results.residue.extend(residue)
        results.smoke_errors.extend(errors)
    if context.api.fatal is not None:  # what the ended run did not check is never a pass (exit 2)
        results.collection_errors.append(f"the run ended early: {context.api.fatal.message}")
    results.finished = time.time()
    # `pytest checks` on its own: what pytest counts as passed may still fail the run (a skip, residue).
    if exitstatus == pytest.ExitCode.OK and results.exit_code(context.options.allow_skip) != 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    path = config.getoption("kvstack_json", default=None)
    if path:
        write_report(Path(path), build_report(context, results, keyword=config.getoption("keyword") or None))
    if config.stash.get(_OWNED_KEY, False):
        context.close()


def sweep_smoke(context: CheckContext, results: RunResults) -> None:
    """Delete every smoke key the flows may have written, then read them back: none may remain."""
    results.smoke_written = len(context.smoke_keys)
    by_namespace: dict[str, list[str]] = {}
    for namespace_id, key in sorted(context.smoke_keys):
        by_namespace.setdefault(namespace_id, []).append(key)
    for namespace_id, keys in by_namespace.items():
        try:
            context.api.delete_keys(namespace_id, keys)
            for start in range(0, len(keys), 100):
                still = context.api.bulk_get(namespace_id, keys[start : start + 100])
                results.smoke_remaining.extend(k for k, v in still.items() if v is not None)
        except KvstackError as error:
            results.smoke_errors.append(f"namespace {namespace_id}: {error.message}")


@pytest.fixture(scope="session")
def kvstack_context(request: pytest.FixtureRequest) -> CheckContext:
    """The run's context: catalog, outputs, keyspaces, the Cloudflare adapter, app URLs."""
    return context_of(request.config)


@pytest.fixture(scope="session")
def stack_titles(kvstack_context: CheckContext) -> dict[str, str]:
    """Namespace id → title of every namespace of the stack."""
    return titles(kvstack_context)


@pytest.fixture(scope="session")
def expiry_days(kvstack_context: CheckContext) -> int:
    return kvstack_context.options.expiry_days


def _resource_fixture(name: str) -> Any:
    def resource(request: pytest.FixtureRequest) -> Iterator[Any]:
        """The resource a check runs over (parametrized); a flow's smoke keys are deleted after it."""
        value = request.param
        if isinstance(value, MissingFromOutputs):
            pytest.fail(value.message, pytrace=False)
        yield value
        if isinstance(value, FlowApp):
            value.cleanup()
        if isinstance(value, StoreResource):
            value.close()

    return pytest.fixture(name=name)(resource)


# One fixture per resource kind: `def test_x(namespace)` runs once per namespace, `def test_y(token)` per token…
for _name in PROVIDERS:
    globals()[f"fixture_{_name}"] = _resource_fixture(_name)
    __all__.append(f"fixture_{_name}")
