"""Run the real Pulumi program of infra/ in-process, against any Pulumi ``Mocks``, and record what it did.

This is how kvstack evaluates its program without the Pulumi CLI: ``kvstack plan`` passes mocks that
invent placeholder ids, the local Cloudflare passes mocks that create each resource through its API,
tests pass their own. Whatever the mocks return flows into the exports exactly as a provider's
answers would.

The mocks contract (for anyone writing a ``pulumi.runtime.Mocks``):

- ``new_resource(args)`` is called once per *provider* resource, never for kvstack's components.
  ``args.typ`` is the type token, ``args.name`` the logical name, ``args.inputs`` the inputs in wire
  form (camelCase keys, plain values), ``args.resource_id`` the import id when the program adopts an
  existing resource (else None). Return ``(id, state)``: the id becomes the resource's ``id``, and
  ``state`` (wire form) its output properties — echo the inputs and add what the provider computes
  (a token's ``value``). No input is a secret today; if one were, it would arrive wrapped as Pulumi
  wraps secrets on the wire.
- ``call(args)`` answers data sources: ``args.token`` and ``args.args`` (wire form); return the
  result in wire form as ``(result, [])``, e.g. ``({"results": [{"id", "name", "scopes"}]}, [])`` for
  the permission groups (pulumi 3.272's MockMonitor fails on ``(result, None)`` despite its annotation).
- Both may be called concurrently from Pulumi's worker threads: keep them thread-safe.
- Raise a :class:`~kvstack.errors.KvstackError` to refuse (e.g. a Cloudflare error): ``run_program``
  re-raises it unchanged. Any other failure becomes a :class:`~kvstack.errors.ProgramError`.

Type tokens and the readers of wire inputs are in the program's adapter module, available through
:func:`load_adapter`. This module imports pulumi only inside functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import importlib
import runpy
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kvstack.errors import KvstackError, ProgramError
from kvstack.lazy_provider import import_lazily

if TYPE_CHECKING:
    import pulumi

__all__ = [
    "PROGRAM_DIR",
    "Export",
    "ProgramRun",
    "RecordedResource",
    "load_adapter",
    "run_program",
]


def _program_dir() -> Path:
    """The Pulumi program: ``kvstack/program/`` of an installed kvstack, else a source checkout's ``infra/``.

    setup.py ships infra/ inside the package as kvstack.program; a checkout (and an editable install) runs
    infra/ where Pulumi.yaml's `main` points, as the Pulumi CLI does.
    """
    package = Path(__file__).resolve().parent
    shipped = package / "program"
    return shipped if (shipped / "__main__.py").is_file() else package.parent / "infra"


PROGRAM_DIR = _program_dir()
_ADAPTER_MODULE = "kvstack_infra.adapter"
_PROVIDER_PACKAGE = "pulumi_cloudflare"
_STACK_TYPE = "pulumi:pulumi:Stack"
# One program run at a time per process: Pulumi's runtime and sys.path are process-wide.
_RUN_LOCK = threading.Lock()


@dataclass(frozen=True)
class RecordedResource:
    """One resource the program registered, with the options that matter and what the mocks answered.

    ``inputs`` and ``state`` are in wire form (camelCase keys). ``parent`` is the parent's URN
    (the stack's for top-level resources). Components have ``custom`` False, no id and no state;
    their ``outputs`` are what they passed to ``register_outputs``.
    """

    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    inputs: Mapping[str, Any]
    id: str | None
    state: Mapping[str, Any]
    protect: bool
    retain_on_delete: bool
    import_id: str | None
    outputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Export:
    """A resolved stack export. ``secret`` is True when Pulumi would hide it; ``value`` is plain either way."""

    value: Any
    secret: bool


@dataclass(frozen=True)
class ProgramRun:
    """What one evaluation of the program registered and exported.

    ``resources`` are in tree order: each parent before its children, siblings by type then name,
    so the same program and mocks always give the same sequence.
    """

    project: str
    stack: str
    root: Path
    resources: tuple[RecordedResource, ...]
    exports: Mapping[str, Export]

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]

    def resource(self, type_token: str, name: str) -> RecordedResource:
        for recorded in self.resources:
            if recorded.type == type_token and recorded.name == name:
                return recorded
        raise KeyError(f"no {type_token} named {name!r}; registered: {', '.join(r.name for r in self.resources)}")

    def children(self, parent: RecordedResource) -> Iterator[RecordedResource]:
        return (r for r in self.resources if r.parent == parent.urn)

    def export(self, name: str) -> Any:
        """An export's plain value (secret or not)."""
        return self.exports[name].value

    def stack_output(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """The exports as ``pulumi stack output --json [--show-secrets]`` prints them."""
        return {
            name: export.value if show_secrets or not export.secret else "[secret]"
            for name, export in self.exports.items()
        }


def run_program(
    root: Path,
    stack: str,
    mocks: pulumi.runtime.Mocks,
    *,
    program: Path = PROGRAM_DIR,
    secret_config: Mapping[str, str] | None = None,
) -> ProgramRun:
    """Evaluate the Pulumi program ``program`` for ``stack`` of the project in ``root`` against ``mocks``.

    ``secret_config`` is the stack's secret config as ``pulumi up`` would decrypt it (``{"kvstack:store.x.token":
    value}``); without it the program sees no config, as ``kvstack plan`` runs it.

    The run happens in its own thread and context, so Pulumi's runtime state starts fresh each time
    and nothing of it leaks to the caller: call it as often as you like in one process.
    Raises the program's (or the mocks') KvstackError unchanged, anything else as ProgramError.
    """
    root = root.resolve()
    if not (program / "__main__.py").is_file():
        raise ProgramError(
            f"no Pulumi program at {program}",
            hint="kvstack ships its Pulumi program (infra/) as kvstack/program/; reinstall kvstack (`pip install .`)",
        )
    project = _project_name(root)
    _import_provider()
    outcome: list[ProgramRun | BaseException] = []

    def target() -> None:
        try:
            outcome.append(_run(root, project, stack, mocks, program, dict(secret_config or {})))
        except BaseException as exc:  # handed to the calling thread
            outcome.append(exc)

    with _RUN_LOCK:
        # A fresh context: Pulumi keeps its settings, root resource and config in context variables.
        thread = threading.Thread(target=contextvars.Context().run, args=(target,), name=f"pulumi-{stack}")
        thread.start()
        thread.join()
    result = outcome[0]
    if isinstance(result, ProgramRun):
        return result
    found = _kvstack_error(result)
    if found is not None:
        raise found from None
    if not isinstance(result, Exception):
        raise result
    cause = _root_cause(result)
    raise ProgramError(
        f"the Pulumi program in {program} failed for stack {stack}: {type(cause).__name__}: {cause}",
        hint="this is a bug in infra/ or in the mocks it ran against; the cause is chained to this error",
    ) from result


def load_adapter(program: Path = PROGRAM_DIR) -> ModuleType:
    """The program's adapter module (type tokens, import-id format, readers of wire inputs).

    The first call imports Pulumi and pulumi-cloudflare, which takes a second: see :func:`_long_lived_imports`.
    pulumi-cloudflare's resource modules load as the program uses them (:mod:`kvstack.lazy_provider`).
    """
    if _ADAPTER_MODULE in sys.modules:
        return sys.modules[_ADAPTER_MODULE]
    _import_provider()
    with _on_path(program):
        return importlib.import_module(_ADAPTER_MODULE)


def _import_provider() -> None:
    """Import Pulumi and pulumi-cloudflare once per process, its resource modules as the program uses them."""
    if _PROVIDER_PACKAGE not in sys.modules:
        with _long_lived_imports():
            import_lazily(_PROVIDER_PACKAGE)


@contextlib.contextmanager
def _long_lived_imports() -> Iterator[None]:
    """Import modules that stay for the life of the process without the cyclic GC walking them.

    pulumi-cloudflare's import creates about a million objects (some 800 modules, thousands of classes),
    none of them garbage. The collector traverses them again and again while they are being created
    (collection off makes the import 2.2 s → 1.7 s here) and once more when the interpreter exits
    (0.85 s after the work is done). So collection is off during the import, and `gc.freeze` then moves
    everything to the permanent generation, which no later collection visits.
    """
    gc.collect()  # what is garbage now should not be frozen for good
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.freeze()


def _run(
    root: Path, project: str, stack: str, mocks: pulumi.runtime.Mocks, program: Path, secret_config: dict[str, str]
) -> ProgramRun:
    from pulumi.runtime import settings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.mocks import set_mocks
    from pulumi.runtime.stack import run_pulumi_func

    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_quiet_unretrieved)
    asyncio.set_event_loop(loop)
    monitor = _recording_monitor(mocks)
    try:
        settings.reset_options(project=project, stack=stack, root_directory=str(root), preview=False)
        set_all_config(secret_config, list(secret_config))
        set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
        stack_resource = settings.get_root_resource()

        def evaluate() -> None:
            # Like Pulumi's Python host: the program folder goes first on sys.path while it runs.
            runpy.run_path(str(program), run_name="__main__")

        loop.run_until_complete(run_pulumi_func(evaluate))
        exports = loop.run_until_complete(_resolve_exports(getattr(stack_resource, "outputs", {})))
        return ProgramRun(
            project=project,
            stack=stack,
            root=root,
            resources=_tree_order(monitor.recorded()),
            exports=exports,
        )
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(None)
        for thread_loop in monitor.thread_loops():
            if not thread_loop.is_closed():
                thread_loop.close()


async def _resolve_exports(outputs: Mapping[str, Any]) -> dict[str, Export]:
    from pulumi import Output

    resolved = {}
    for name, value in outputs.items():
        output = Output.from_input(value)
        resolved[name] = Export(value=await output.future(), secret=await output.is_secret())
    return resolved


def _recording_monitor(mocks: pulumi.runtime.Mocks) -> Any:
    """A MockMonitor that records every registration (with its options) and components' outputs."""
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.proto import resource_pb2

    class RecordingMonitor(MockMonitor):
        def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
            super().__init__(mocks)
            self._lock = threading.Lock()
            self._records: dict[str, RecordedResource] = {}
            self._outputs: dict[str, Mapping[str, Any]] = {}
            self._thread_loops: set[asyncio.AbstractEventLoop] = set()

        def thread_loops(self) -> list[asyncio.AbstractEventLoop]:
            with self._lock:
                return list(self._thread_loops)

        def _note_thread_loop(self) -> None:
            # MockMonitor gives each executor thread an event loop (pulumi.runtime.sync_await) and never
            # closes it; note them so the run can close them (else: tracebacks at interpreter exit).
            from pulumi.runtime.sync_await import _ensure_event_loop

            loop = _ensure_event_loop()  # type: ignore[no-untyped-call]
            with self._lock:
                self._thread_loops.add(loop)

        def Invoke(self, request: Any) -> Any:
            self._note_thread_loop()
            return super().Invoke(request)  # type: ignore[no-untyped-call]

        def ReadResource(self, request: Any) -> Any:
            self._note_thread_loop()
            return super().ReadResource(request)  # type: ignore[no-untyped-call]

        def RegisterResource(self, request: Any) -> Any:
            self._note_thread_loop()
            if request.type == _STACK_TYPE:
                return super().RegisterResource(request)  # type: ignore[no-untyped-call]
            if not request.custom:
                # Components are kvstack's own; the mocks only ever see provider resources.
                urn = self.make_urn(request.parent, request.type, request.name)
                self._record(request, urn, None, {})
                return resource_pb2.RegisterResourceResponse(urn=urn)
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            self._record(request, response.urn, response.id or None, dict(self.resources[response.urn].state))
            return response

        def RegisterResourceOutputs(self, request: Any) -> Any:
            outputs = rpc.deserialize_properties(request.outputs) if request.outputs else {}
            with self._lock:
                self._outputs[request.urn] = _unwrap_secrets(outputs)
            return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

        def _record(self, request: Any, urn: str, id_: str | None, state: dict[str, Any]) -> None:
            inputs = _unwrap_secrets(rpc.deserialize_properties(request.object))
            recorded = RecordedResource(
                type=request.type,
                name=request.name,
                urn=urn,
                parent=request.parent or None,
                custom=bool(request.custom),
                inputs=inputs,
                id=id_,
                state=_unwrap_secrets(state),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                import_id=request.importId or None,
            )
            with self._lock:
                self._records[urn] = recorded

        def recorded(self) -> list[RecordedResource]:
            with self._lock:
                return [replace(r, outputs=self._outputs.get(urn, {})) for urn, r in self._records.items()]

    return RecordingMonitor(mocks)


def _tree_order(resources: list[RecordedResource]) -> tuple[RecordedResource, ...]:
    urns = {r.urn for r in resources}
    children: dict[str | None, list[RecordedResource]] = {}
    for recorded in resources:
        children.setdefault(recorded.parent if recorded.parent in urns else None, []).append(recorded)
    ordered: list[RecordedResource] = []

    def walk(parent: str | None) -> None:
        for child in sorted(children.get(parent, ()), key=lambda r: (r.type, r.name)):
            ordered.append(child)
            walk(child.urn)

    walk(None)
    return tuple(ordered)


def _unwrap_secrets(value: Any) -> Any:
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return _unwrap_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it, outermost first (Pulumi wraps failures while serializing inputs)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        current = current.__cause__ or current.__context__


def _kvstack_error(exc: BaseException) -> KvstackError | None:
    """The KvstackError that caused ``exc``, however deep Pulumi wrapped it."""
    return next((e for e in _causes(exc) if isinstance(e, KvstackError)), None)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost explicit cause (``raise … from``): how Pulumi wraps an error it passes on."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return exc


def _quiet_unretrieved(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # After a failure every output depending on it fails too; the first failure is raised, the echoes are noise.
    if "never retrieved" in str(context.get("message", "")):
        return
    loop.default_exception_handler(context)


def _project_name(root: Path) -> str:
    """Pulumi.yaml's ``name``, for URNs; never raises: the program's catalog load reports a broken file."""
    import yaml

    from kvstack.catalog import PROJECT_FILE

    # libyaml when present: the strict loader composes a node tree for error positions, costly on big catalogs.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load((root / PROJECT_FILE).read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError):
        return "project"
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else "project"


@contextlib.contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    """The program folder first on sys.path for the duration, as Pulumi's Python host has it."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)
