"""From the catalog and the outputs to one :class:`FilePlan` per file: read, render, compare. Writes nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kvstack import names
from kvstack.catalog import App, Catalog, WranglerFormat
from kvstack.errors import OutputsError, UsageError, WranglerFileError
from kvstack.files import FileProblem, read_text
from kvstack.outputs import Outputs
from kvstack.render._dotenv import ACCOUNT_VARIABLE, NAMESPACE_VARIABLE, TOKEN_VARIABLE, render_env
from kvstack.render._jsonc import new_json_text, parse_json, render_json
from kvstack.render._layout import split_layout
from kvstack.render._merge import refuse_duplicate_bindings
from kvstack.render._model import FilePlan, Finding, KvBinding, Rendered, WranglerSpec
from kvstack.render._store import EnvValues, store_env_values
from kvstack.render._toml import new_toml_text, parse_toml, render_toml

__all__ = ["ENV_FILE_MODE", "format_of", "plan_file", "plan_render", "read_wrangler_data", "render_wrangler"]

# A .env holds the runtime token: readable by its owner only.
ENV_FILE_MODE = 0o600


def render_wrangler(text: str | None, spec: WranglerSpec, *, file: str) -> Rendered:
    """The pure render: a wrangler file's text (None when it does not exist) and a spec to the new text.

    Raises :class:`WranglerFileError` (exit 2, with line and column) when ``text`` does not parse.
    """
    created = text is None
    if text is None:
        text = new_toml_text(spec) if spec.format == "toml" else new_json_text(spec)
    body, layout = split_layout(text)
    render = render_toml if spec.format == "toml" else render_json
    result = render(body, spec, file=file)
    result = Rendered(layout.restore(result.text), result.findings)
    if not created:
        return result
    # A new file has no bindings to speak of yet: one finding says it is missing, not one per binding.
    note = Finding("missing-file", "error", "the file does not exist; render creates it minimal", file=file)
    kept = tuple(f for f in result.findings if f.kind != "missing-binding")
    return Rendered(result.text, (note, *kept))


def format_of(path: Path) -> WranglerFormat:
    """The wrangler format a file name says."""
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return "toml"
    if suffix == ".jsonc":
        return "jsonc"
    if suffix == ".json":
        return "json"
    raise UsageError(f"{path}: not a wrangler file name", hint="wrangler files end in .toml, .jsonc or .json")


def _read(path: Path, display: str) -> str | None:
    """The file's text as found (None when absent); links, FIFOs, huge and non-UTF-8 files are refused."""
    try:
        return read_text(path)
    except FileProblem as problem:
        raise WranglerFileError(
            problem.message, file=display, line=problem.line, column=problem.column, hint=problem.hint
        ) from problem


def read_wrangler_data(path: Path, fmt: WranglerFormat, *, display: str) -> dict[str, Any] | None:
    """The parsed data of an app's wrangler file (None when absent), refused as render would refuse it.

    WranglerFileError (exit 2, with the line): a link, FIFO, huge or non-UTF-8 file, one that does not
    parse, and one that binds a kv name twice in a section (wrangler refuses it).
    """
    text = _read(path, display)
    if text is None:
        return None
    body, _ = split_layout(text)
    data = parse_toml(body, file=display) if fmt == "toml" else parse_json(body, file=display)
    refuse_duplicate_bindings(data, body, file=display)
    return data


def _tag(findings: Sequence[Finding], app: str | None) -> tuple[Finding, ...]:
    return tuple(dataclasses.replace(f, app=app) for f in findings)


def plan_file(
    path: Path, bindings: Sequence[KvBinding], *, env: str | None = None, display: str | None = None
) -> FilePlan:
    """The plan for one wrangler file and explicit bindings, without a catalog (``render --file``).

    ``env`` names the environment section (``[env.<env>]``); without it the top level is written.
    """
    display = display or str(path)
    fmt = format_of(path)
    section = f"env.{env}" if env else names.WRANGLER_TOP_SECTION
    old = _read(path, display)
    name = path.resolve().parent.name or "app"
    spec = WranglerSpec(format=fmt, sections={section: tuple(bindings)}, name=name)
    rendered = render_wrangler(old, spec, file=display)
    return FilePlan(
        path=path,
        relpath=display,
        kind="wrangler",
        format=fmt,
        app=None,
        old_text=old,
        new_text=rendered.text,
        findings=rendered.findings,
    )


def plan_render(
    catalog: Catalog,
    outputs: Outputs,
    *,
    app: str | None = None,
    base_dir: Path | None = None,
    with_secrets: bool = False,
) -> list[FilePlan]:
    """One :class:`FilePlan` per file the stack's apps own: wrangler files, and .env files of rest apps.

    With ``base_dir`` every file is planned at ``base_dir/<relpath>``, starting from the file already
    there, else from the project's own file (the local Cloudflare renders the apps into its state folder).
    Nothing is written. Raises :class:`OutputsError` when the outputs belong to another stack or account,
    or lack a binding the catalog requires; :class:`WranglerFileError` when a file does not parse.
    """
    if outputs.stack != catalog.stack:
        raise OutputsError(
            f"{outputs.source}: the outputs are of stack {outputs.stack!r}, not {catalog.stack!r}",
            hint="pass the outputs of the stack being rendered",
        )
    if outputs.account_id != catalog.account_id:
        raise OutputsError(
            f"{outputs.source}: the outputs are of account {outputs.account_id}, the catalog of {catalog.stack} "
            f"declares {catalog.account_id}",
            hint="pass the outputs of this stack's account",
        )
    apps = catalog.apps
    stores = catalog.stores
    if app is not None:
        known = [a.name for a in catalog.apps] + [s.app for s in catalog.stores]
        stores = tuple(s for s in catalog.stores if s.app == app)
        if app not in known:
            raise UsageError(
                f"no app named {app!r} in stack {catalog.stack}", hint=f"declared apps: {', '.join(known)}"
            )
        apps = tuple(a for a in catalog.apps if a.name == app)
    plans = []
    for entry in apps:
        bindings = _bindings(entry, outputs)
        if entry.kind == "rest":
            plans.append(_rest_env_plan(catalog, outputs, entry, bindings, base_dir, with_secrets))
        else:
            plans.append(_wrangler_plan(catalog, entry, bindings, base_dir))
    for store in stores:
        wanted = store_env_values(outputs, store, with_secrets=with_secrets)
        plans.append(_env_plan(catalog, store.env_file, store.app, wanted, base_dir))
    return plans


def _bindings(app: App, outputs: Outputs) -> tuple[KvBinding, ...]:
    declared = outputs.apps.get(app.name)
    result = []
    for binding in app.bindings:
        ids = declared.bindings.get(binding.name) if declared is not None else None
        if ids is None:
            if binding.optional:
                continue
            raise OutputsError(
                f"{outputs.source}: no namespace ids for {app.name}.{binding.name}, which the catalog declares",
                hint=f"run `pulumi up --stack {outputs.stack}` (or `kvstack local up`) so the outputs include it",
            )
        result.append(KvBinding(binding.name, ids.id, ids.preview_id))
    return tuple(result)


def _target(catalog: Catalog, path: Path, base_dir: Path | None) -> tuple[Path, str, Path | None]:
    """Where the file is written, its name relative to the project, and the file to start from."""
    relpath = path.relative_to(catalog.root).as_posix()
    if base_dir is None:
        return path, relpath, None
    target = base_dir / relpath
    return target, relpath, (path if not target.exists() else None)


def _wrangler_plan(catalog: Catalog, app: App, bindings: tuple[KvBinding, ...], base_dir: Path | None) -> FilePlan:
    assert app.wrangler is not None  # the catalog guarantees it for pages and worker apps
    target, relpath, seed = _target(catalog, app.wrangler.path, base_dir)
    old = _read(target, relpath)
    start = _read(seed, relpath) if seed is not None else old
    spec = WranglerSpec(
        format=app.wrangler.format,
        sections=dict.fromkeys(app.wrangler.sections, bindings),
        name=app.name,
        pages=app.kind == "pages",
    )
    rendered = render_wrangler(start, spec, file=relpath)
    findings = rendered.findings
    if seed is not None and start is not None:
        findings = (Finding("seeded", "info", f"created from the project's {relpath}", file=relpath), *findings)
    return FilePlan(
        path=target,
        relpath=relpath,
        kind="wrangler",
        format=app.wrangler.format,
        app=app.name,
        old_text=old,
        new_text=rendered.text,
        findings=_tag(findings, app.name),
        seed=seed if start is not None else None,
    )


def _rest_env_plan(
    catalog: Catalog,
    outputs: Outputs,
    app: App,
    bindings: tuple[KvBinding, ...],
    base_dir: Path | None,
    with_secrets: bool,
) -> FilePlan:
    assert app.env_file is not None  # the catalog guarantees it for rest apps
    values = {ACCOUNT_VARIABLE: outputs.account_id}
    for index, binding in enumerate(bindings):
        # One cache namespace is the rest app's contract; further ones get the binding in the name.
        values[NAMESPACE_VARIABLE if index == 0 else f"{NAMESPACE_VARIABLE}_{binding.binding}"] = binding.id
    secrets: tuple[str, ...] = ()
    if with_secrets:
        token = _runtime_token(catalog, outputs, app)
        values[TOKEN_VARIABLE] = token
        secrets = (token,)
    return _env_plan(catalog, app.env_file, app.name, EnvValues(values, secrets), base_dir)


def _env_plan(catalog: Catalog, env_file: Path, app: str, wanted: EnvValues, base_dir: Path | None) -> FilePlan:
    """The plan of an app's .env (a rest app's or a store's): ``wanted`` merged into the file, mode 0600."""
    target, relpath, seed = _target(catalog, env_file, base_dir)
    old = _read(target, relpath)
    start = _read(seed, relpath) if seed is not None else old
    if start is None:
        # A new .env starts from the committed example beside it, so the app's own settings come along.
        example = env_file.with_name(env_file.name + ".example")
        start = _read(example, relpath + ".example")
        seed = example if start is not None else None
    rendered = render_env(start, wanted.values, file=relpath)
    findings = (*(dataclasses.replace(f, file=relpath) for f in wanted.lacking), *rendered.findings)
    if old is None:
        findings = (
            Finding(
                "missing-file",
                "warning",
                f"{relpath} does not exist (it is never committed); `kvstack render --stack {catalog.stack} "
                f"--app {app} --with-secrets` creates it",
                file=relpath,
            ),
            # the values of an example it starts from are not drift: there is no file yet
            *(f for f in findings if f.kind not in ("missing-variable", "changed-variable")),
        )
    return FilePlan(
        path=target,
        relpath=relpath,
        kind="env",
        format="env",
        app=app,
        old_text=old,
        new_text=rendered.text,
        findings=_tag(findings, app),
        seed=seed if start is not None else None,
        mode=ENV_FILE_MODE,
        secrets=wanted.secrets,
    )


def _runtime_token(catalog: Catalog, outputs: Outputs, app: App) -> str:
    keys = [t.key for t in catalog.tokens if t.role == "runtime" and t.app == app.name]
    token = outputs.tokens.get(keys[0]) if keys else None
    if token is None:
        raise OutputsError(f"{outputs.source}: no runtime token for {app.name}", hint="run `pulumi up` first")
    if token.value is None:
        raise OutputsError(
            f"{outputs.source}: the value of token {token.key} is not in the outputs",
            hint="read the outputs with secrets (`pulumi stack output --json --show-secrets`, or a file holding "
            f"`{names.TOKEN_VALUES_EXPORT}`)",
        )
    return token.value
