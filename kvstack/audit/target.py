"""Where an audit looks: the catalog (every stack of it), the outputs, and the API with the audit token.

The target (``kvstack.targets``, chosen once by ``--local``) alone says where outputs, API URL and token
come from, as for ``kvstack check``. ``local``: the running ``kvstack local up`` (its outputs carry the
``audit`` token's value; the audit never runs with the local bootstrap token). ``cloudflare``: the real API,
``CLOUDFLARE_API_TOKEN`` (the audit token) and ``--outputs`` or ``pulumi stack output``. What a target
cannot give is a configuration error (exit 2), never a skip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from kvstack.catalog import Catalog, available_stacks, load_catalog
from kvstack.cloudflare import CloudflareApi
from kvstack.errors import KvstackError, UsageError
from kvstack.outputs import Outputs
from kvstack.targets import Target
from kvstack.targets.options import DEFAULT_EXPIRY_DAYS, TargetOptions

__all__ = ["AUDIT_ROLE", "DEFAULT_DAYS", "DEFAULT_EXPIRY_DAYS", "AuditOptions", "AuditTarget", "open_target"]

DEFAULT_DAYS: Final = 7
AUDIT_ROLE: Final = "audit"


@dataclass(frozen=True)
class AuditOptions(TargetOptions):
    """An audit run as the command line asked for it."""

    all_stacks: bool = False
    days: int = DEFAULT_DAYS
    rate_window: float = 300.0


@dataclass
class AuditTarget:
    """Everything one audit run reads from. Close it at the end."""

    options: AuditOptions
    source: Target
    api: CloudflareApi
    # stack -> its catalog; the audited stacks (one, or every one with --all-stacks) and all the others.
    catalogs: dict[str, Catalog]
    audited: tuple[str, ...]
    # stack -> its outputs, for the stacks whose outputs could be read.
    outputs: dict[str, Outputs]
    # Stacks --all-stacks could not audit fully (another account, or no outputs on this target): stack -> why.
    unread: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> Literal["cloudflare", "local"]:
        return "local" if self.source.name == "local" else "cloudflare"

    @property
    def account_id(self) -> str:
        return self.api.account_id

    @property
    def wrangler_base(self) -> Path:
        """Where the wrangler files that are deployed live (local: the rendered tree)."""
        return self.source.deployed_files()

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
    source = options.target()
    outputs = {options.stack: source.outputs(with_secrets=True)}
    account_id = outputs[options.stack].account_id
    # --all-stacks: every stack of this account; a stack of another account is said, never silently left out.
    unread: dict[str, str] = {
        stack: f"it lives in account {catalog.account_id}, not {account_id}: audit it with --stack {stack}"
        for stack, catalog in catalogs.items()
        if options.all_stacks and stack != options.stack and catalog.account_id != account_id
    }
    audited = tuple(s for s in stacks if s not in unread) if options.all_stacks else (options.stack,)
    for stack in audited:
        if stack == options.stack:
            continue
        try:
            outputs[stack] = options.target(stack).outputs(with_secrets=True)
        except KvstackError as error:  # another stack may not be deployed on this target
            unread[stack] = (
                f"its outputs cannot be read on this target ({error.message}): its namespaces are judged by "
                "title only, its tokens are not checked"
            )
    api = source.api_client(
        token=source.role_token(AUDIT_ROLE),
        token_source=source.role_token_source(AUDIT_ROLE),
        token_hint=source.role_token_hint(AUDIT_ROLE),
        concurrency=options.concurrency,
        rate_limit=options.rate_limit,
        rate_window=options.rate_window,
        deadline=options.timeout,
    )
    return AuditTarget(options, source, api, catalogs, audited, outputs, unread)
