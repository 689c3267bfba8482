"""What the .env of an app that uses a store holds: for an Upstash store its REST URL, both tokens and its prefix.

The prefix (``KV_NAMESPACE``) is always wanted; the URL and tokens only with secrets (``--with-secrets``),
as the runtime token of a rest app. The file itself is planned as every .env is (``_plan``): 0600, started
from the ``.env.example`` beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvstack import names
from kvstack.outputs import Outputs
from kvstack.render._dotenv import (
    UPSTASH_PREFIX_VARIABLE,
    UPSTASH_READ_ONLY_TOKEN_VARIABLE,
    UPSTASH_TOKEN_VARIABLE,
    UPSTASH_URL_VARIABLE,
)
from kvstack.render._model import Finding
from kvstack.stores import Store

__all__ = ["EnvValues", "store_env_values"]

_SECRET_VARIABLES = {
    "rest_url": UPSTASH_URL_VARIABLE,
    "token": UPSTASH_TOKEN_VARIABLE,
    "read_only_token": UPSTASH_READ_ONLY_TOKEN_VARIABLE,
}


@dataclass(frozen=True)
class EnvValues:
    """The variables a .env must hold, which of their values are secrets, and what the outputs lack.

    ``lacking``: error findings for values that could not be had (the plan names the file in them): the
    file then drifts (``--check`` exits 1) and no value is invented.
    """

    values: dict[str, str]
    secrets: tuple[str, ...] = ()
    lacking: tuple[Finding, ...] = ()


def store_env_values(outputs: Outputs, store: Store, *, with_secrets: bool) -> EnvValues:
    """The store's prefix, and with secrets its URL and tokens; what the outputs lack becomes a finding."""
    found = outputs.stores.get(store.name)
    if found is None:
        return EnvValues({}, lacking=(_missing_store(outputs, store),))
    values = {UPSTASH_PREFIX_VARIABLE: found.prefix}
    lacking = []
    for name, variable in _SECRET_VARIABLES.items() if with_secrets else ():
        value: str | None = getattr(found, name)
        if value is None:
            lacking.append(_missing_secret(outputs, store, name))
        else:
            values[variable] = value
    secrets = tuple(values[v] for v in _SECRET_VARIABLES.values() if v in values)
    return EnvValues(values, secrets, tuple(lacking))


def _missing_store(outputs: Outputs, store: Store) -> Finding:
    return Finding(
        "missing-store",
        "error",
        f"{outputs.source}: no store {store.name} in the outputs, which the catalog declares; run `pulumi up "
        f"--stack {outputs.stack}` (or `kvstack local up`) so that they include it",
    )


def _missing_secret(outputs: Outputs, store: Store, name: str) -> Finding:
    return Finding(
        "missing-secret",
        "error",
        f"{outputs.source}: the {name} of store {store.name} is not in the outputs; set it with `pulumi config set "
        f"--secret {store.secret_keys[name]} <value>`, run `pulumi up`, and read the outputs with secrets "
        f"(`--show-secrets`, or a file holding `{names.STORE_SECRETS_EXPORT}`)",
    )
