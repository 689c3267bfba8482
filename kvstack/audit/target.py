"""Where an audit looks: the catalog (every stack of it), the outputs, and the API with the audit token.

Two targets, one shape. ``local``: the running ``kvstack local up`` — its API URL, its outputs, and the
``audit`` token's value from those outputs (the audit never runs with the local bootstrap token).
``cloudflare``: the real API, ``CLOUDFLARE_API_TOKEN`` (the audit token) and ``--outputs`` or
``pulumi stack output``. What a target cannot give is a configuration error (exit 2), never a skip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from kvstack.catalog import Catalog, available_stacks, load_catalog
from kvstack.cloudflare import ApiSettings, CloudflareApi, connect
from kvstack.errors import KvstackError, UsageError
from kvstack.keyspace import DEFAULT_SAMPLE
from kvstack.outputs import Outputs
from kvstack.targets import Target, choose_target

__all__ = ["DEFAULT_DAYS", "DEFAULT_EXPIRY_DAYS", "AuditOptions", "AuditTarget", "open_target"]

DEFAULT_DAYS: Final = 7
DEFAULT_EXPIRY_DAYS: Final = 14
AUDIT_ROLE: Final = "audit"


@dataclass(frozen=True)
class AuditOptions:
    """An audit run as the command line asked for it."""

    stack: str
    root: Path
    local: bool = False
    all_stacks: bool = False
    sample: int = DEFAULT_SAMPLE
    deep: bool = False
    days: int = DEFAULT_DAYS
    expiry_days: int = DEFAULT_EXPIRY_DAYS
    outputs_file: Path | None = None
    api_url: str | None = None
    concurrency: int = 8
    rate_limit: int = 1200
    rate_window: float = 300.0


@dataclass
class AuditTarget:
    """Everything one audit run reads from. Close it at the end."""

    options: AuditOptions
    kind: Literal["cloudflare", "local"]
    account_id: str
    api: CloudflareApi
    # stack -> its catalog; the audited stacks (one, or every one with --all-stacks) and all the others.
    catalogs: dict[str, Catalog]
    audited: tuple[str, ...]
    # stack -> its outputs, for the stacks whose outputs could be read.
    outputs: dict[str, Outputs]
    # Where the wrangler files that are deployed live: local, the rendered tree; else the project.
    wrangler_base: Path
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.api.close()


def open_target(options: AuditOptions) -> AuditTarget:
    """Load the catalogs and outputs and connect with the audit token; KvstackError (exit 2) if one is missing."""
    stacks = available_stacks(options.root)
    if options.stack not in stacks:
        raise UsageError(
            f"no stack {options.stack!r} in {options.root}",
            hint=f"stacks with a Pulumi.<stack>.yaml: {', '.join(stacks) or 'none'}",
        )
    catalogs = {stack: load_catalog(options.root, stack) for stack in stacks}
    audited = tuple(stacks) if options.all_stacks else (options.stack,)
    if options.local:
        return _local_target(options, catalogs, audited)
    target = _target(options, options.stack)
    outputs = _outputs(options, audited, required=options.stack)
    account_id = outputs[options.stack].account_id
    api = connect(target.api_token(), _settings(options, account_id, target.api_url(), target.token_source))
    return AuditTarget(
        options=options,
        kind="cloudflare",
        account_id=account_id,
        api=api,
        catalogs=catalogs,
        audited=audited,
        outputs=outputs,
        wrangler_base=options.root,
    )


def _target(options: AuditOptions, stack: str) -> Target:
    """The run's target (kvstack.targets) for ``stack``: the one source of its outputs, API URL and token."""
    return choose_target(
        options.root,
        stack,
        local=options.local,
        outputs_file=options.outputs_file if stack == options.stack else None,
        api_url=None if options.local else options.api_url,
    )


def _settings(options: AuditOptions, account_id: str, base_url: str | None, token_source: str) -> ApiSettings:
    return ApiSettings(
        account_id=account_id,
        base_url=base_url,
        token_source=token_source,
        concurrency=options.concurrency,
        rate_limit=options.rate_limit,
        rate_window=options.rate_window,
    )


def _outputs(options: AuditOptions, stacks: tuple[str, ...], *, required: str) -> dict[str, Outputs]:
    """Outputs of ``stacks``; the one of ``required`` must exist, the others may not have been deployed."""
    found: dict[str, Outputs] = {}
    for stack in stacks:
        try:
            found[stack] = _target(options, stack).outputs(with_secrets=True)
        except KvstackError:
            if stack == required:
                raise
    return found


def _local_target(options: AuditOptions, catalogs: dict[str, Catalog], audited: tuple[str, ...]) -> AuditTarget:
    from kvstack.local.state import state_dir

    target = _target(options, options.stack)
    outputs = _outputs(options, audited, required=options.stack)
    token_source = f"the audit token of {outputs[options.stack].source}"
    api = connect(
        _audit_token(outputs[options.stack]), _settings(options, target.account_id(), target.api_url(), token_source)
    )
    tree = state_dir(options.root) / "tree"
    return AuditTarget(
        options=options,
        kind="local",
        account_id=target.account_id(),
        api=api,
        catalogs=catalogs,
        audited=audited,
        outputs=outputs,
        wrangler_base=tree if tree.is_dir() else options.root,
    )


def _audit_token(outputs: Outputs) -> str:
    for token in outputs.tokens.values():
        if token.role == AUDIT_ROLE and token.value:
            return token.value
    raise UsageError(
        f"the outputs of stack {outputs.stack} ({outputs.source}) carry no value of a token with role {AUDIT_ROLE}",
        hint="declare a token with `role: audit` in the catalog and run `kvstack local up` again",
    )
