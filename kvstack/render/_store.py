"""The .env of an app that uses a store: for an Upstash store its REST URL, both tokens and its key prefix.

The prefix (``KV_NAMESPACE``) is always written; the URL and tokens only with secrets (``--with-secrets``),
as the runtime token of a rest app. The file is 0600 and starts from the ``.env.example`` beside it.
"""

from __future__ import annotations

from pathlib import Path

from kvstack import names
from kvstack.catalog import Catalog
from kvstack.outputs import Outputs
from kvstack.render._dotenv import (
    UPSTASH_PREFIX_VARIABLE,
    UPSTASH_READ_ONLY_TOKEN_VARIABLE,
    UPSTASH_TOKEN_VARIABLE,
    UPSTASH_URL_VARIABLE,
    render_env,
)
from kvstack.render._model import FilePlan, Finding
from kvstack.stores import Store

__all__ = ["plan_store_env"]

ENV_FILE_MODE = 0o600
_SECRET_VARIABLES = {
    "rest_url": UPSTASH_URL_VARIABLE,
    "token": UPSTASH_TOKEN_VARIABLE,
    "read_only_token": UPSTASH_READ_ONLY_TOKEN_VARIABLE,
}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def plan_store_env(
    catalog: Catalog, outputs: Outputs, store: Store, *, base_dir: Path | None, with_secrets: bool
) -> FilePlan:
    """The plan of the store's app's .env.

    What the outputs lack (the store, or with secrets one of its credentials) is an error finding naming
    what to do: the file drifts (``--check`` exits 1) and no value is invented.
    """
    found = outputs.stores.get(store.name)
    relpath = store.env_file.relative_to(catalog.root).as_posix()
    target = store.env_file if base_dir is None else base_dir / relpath
    old = _read(target)
    start, seed = old, None
    if start is None and base_dir is not None:
        start, seed = _read(store.env_file), store.env_file
    if start is None:
        example = store.env_file.with_name(store.env_file.name + ".example")
        start = _read(example)
        seed = example if start is not None else None
    values: dict[str, str] = {}
    lacking: list[Finding] = []
    if found is None:
        lacking.append(
            Finding(
                "missing-store",
                "error",
                f"{outputs.source}: no store {store.name} in the outputs, which the catalog declares; run `pulumi up "
                f"--stack {outputs.stack}` (or `kvstack local up`) so that they include it",
                file=relpath,
            )
        )
    else:
        values[UPSTASH_PREFIX_VARIABLE] = found.prefix
        for field, variable in _SECRET_VARIABLES.items() if with_secrets else ():
            value: str | None = getattr(found, field)
            if value is None:
                lacking.append(_missing_secret(outputs, store, field, relpath))
            else:
                values[variable] = value
    secrets = tuple(values[v] for v in _SECRET_VARIABLES.values() if v in values)
    rendered = render_env(start, values, file=relpath)
    findings = (*lacking, *rendered.findings)
    if old is None:
        findings = (
            Finding(
                "missing-file",
                "warning",
                f"{relpath} does not exist (it is never committed); `kvstack render --stack {catalog.stack} "
                f"--app {store.app} --with-secrets` creates it",
                file=relpath,
            ),
            *(f for f in findings if f.kind not in ("missing-variable", "changed-variable")),
        )
    return FilePlan(
        path=target,
        relpath=relpath,
        kind="env",
        format="env",
        app=store.app,
        old_text=old,
        new_text=rendered.text,
        findings=tuple(_with_app(f, store.app) for f in findings),
        seed=seed if start is not None else None,
        mode=ENV_FILE_MODE,
        secrets=secrets,
    )


def _with_app(finding: Finding, app: str) -> Finding:
    import dataclasses

    return dataclasses.replace(finding, app=app)


def _missing_secret(outputs: Outputs, store: Store, field: str, relpath: str) -> Finding:
    return Finding(
        "missing-secret",
        "error",
        f"{outputs.source}: the {field} of store {store.name} is not in the outputs; set it with `pulumi config set "
        f"--secret {store.secret_keys[field]} <value>`, run `pulumi up`, and read the outputs with secrets "
        f"(`--show-secrets`, or a file holding `{names.STORE_SECRETS_EXPORT}`)",
        file=relpath,
    )
