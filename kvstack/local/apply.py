"""Apply a stack to the local Cloudflare: the real Pulumi program, with mocks that create through the API.

Where `pulumi up` would have the provider create each resource, these mocks call the local
Cloudflare's API with the official SDK (so the emulator is held to the real client): namespaces
are created (or found again by their unique title, so a second `local up` reuses them), Pages
projects created or updated, account tokens created with their policies. The ids and token values
the API answers flow into the program's exports, exactly as the provider's would.

The SDK client is :mod:`kvstack.cloudflare`'s (its transport retries, its error map), as for the checks.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kvstack.cloudflare import ApiSettings, CloudflareApi, connect
from kvstack.errors import CloudflareError, LocalCloudflareError

if TYPE_CHECKING:
    import cloudflare
    import pulumi

__all__ = ["apply_stack", "local_api_mocks"]


def apply_stack(
    root: Path, stack: str, *, api_url: str, token: str, secret_config: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run the program of ``stack`` against the local Cloudflare at ``api_url``.

    ``secret_config`` stands for the stack's config secrets (the local Upstash's URL and tokens).

    Returns what `pulumi stack output --json --show-secrets` would print: the outputs document under
    ``names.OUTPUTS_EXPORT`` and the token values under ``names.TOKEN_VALUES_EXPORT``.
    """
    from kvstack.engine import load_adapter, run_program

    # Each resource names its account, and the mocks run one at a time. Writes may be sent again: the
    # local Cloudflare's injected faults (`--faults`) answer before the request is handled.
    settings = ApiSettings(account_id="", base_url=f"{api_url}/client/v4", concurrency=1, retry_writes=True)
    with connect(token, settings) as api:
        run = run_program(root, stack, local_api_mocks(api, load_adapter()), secret_config=secret_config)
    output: dict[str, Any] = run.stack_output(show_secrets=True)
    return output


def local_api_mocks(api: CloudflareApi, adapter: ModuleType) -> pulumi.runtime.Mocks:
    """Mocks whose every resource is created through ``api.sdk`` (the official SDK)."""
    import pulumi

    client = api.sdk

    # Pulumi calls mocks from several threads; find-or-create must not race for one title.
    lock = threading.Lock()
    listings = _Listings(client)

    class LocalApiMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
            state = dict(args.inputs)
            account = str(state.get("accountId", ""))
            with lock, api.errors(f"create {args.typ} {args.name} in the local Cloudflare"):
                if args.typ == adapter.KV_NAMESPACE:
                    return _namespace(client, listings, adapter, account, state, args.resource_id), state
                if args.typ == adapter.PAGES_PROJECT:
                    return _pages_project(client, adapter, account, state), state
                if args.typ == adapter.ACCOUNT_TOKEN:
                    return _account_token(client, listings, adapter, account, state), state
            raise LocalCloudflareError(f"the local Cloudflare cannot create {args.typ} ({args.name})")

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
            if args.token == adapter.PERMISSION_GROUPS_LIST:
                account = str(args.args.get("accountId", ""))
                with api.errors("list permission groups of the local Cloudflare"):
                    groups = client.accounts.tokens.permission_groups.list(account_id=account)
                    results = [{"id": g.id, "name": g.name, "scopes": list(g.scopes or [])} for g in groups]
                return {"accountId": account, "results": results}, []
            raise LocalCloudflareError(f"the local Cloudflare cannot answer the data source {args.token}")

    return LocalApiMocks()


class _Listings:
    """What the account held when the apply began, listed once per kind rather than once per resource.

    Only this apply changes the local account meanwhile (under the mocks' lock): it adds the namespaces
    it creates and drops the tokens it deletes (token names are unique in a catalog, so a token it
    creates is never looked up again).
    """

    def __init__(self, client: cloudflare.Cloudflare) -> None:
        self.client = client
        self._namespaces: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, list[Any]] = {}

    def namespaces(self, account: str) -> dict[str, Any]:
        """Title → namespace."""
        if account not in self._namespaces:
            listing = self.client.kv.namespaces.list(account_id=account, per_page=100)
            self._namespaces[account] = {namespace.title: namespace for namespace in listing}
        return self._namespaces[account]

    def tokens(self, account: str) -> list[Any]:
        if account not in self._tokens:
            self._tokens[account] = list(self.client.accounts.tokens.list(account_id=account))
        return self._tokens[account]


def _namespace(
    client: cloudflare.Cloudflare,
    listings: _Listings,
    adapter: ModuleType,
    account: str,
    state: dict[str, Any],
    import_id: str | None,
) -> str:
    import cloudflare

    title = str(state["title"])
    adopted = adapter.read_import_namespace_id(import_id)
    if adopted:
        try:
            found = client.kv.namespaces.get(adopted, account_id=account)
        except cloudflare.NotFoundError as error:
            raise CloudflareError(
                f"namespace {title} adopts {adopted} (`adopt` in the stack's catalog), "
                f"which the local Cloudflare does not hold",
                status=404,
                codes=(10013,),
                hint="adopting takes over a namespace that already exists in the account; the local Cloudflare "
                "creates its own ids, so run it with a stack that adopts nothing (e.g. --stack dev)",
            ) from error
        if found is None:  # pragma: no cover - the SDK raises NotFoundError instead
            raise CloudflareError(f"adopted namespace {adopted} does not exist", codes=(10013,))
        state["supportsUrlEncoding"] = bool(found.supports_url_encoding)
        return str(adopted)
    known = listings.namespaces(account)
    if title in known:
        state["supportsUrlEncoding"] = bool(known[title].supports_url_encoding)
        return str(known[title].id)
    created = client.kv.namespaces.create(account_id=account, title=title)
    if created is None:
        raise CloudflareError(f"creating namespace {title!r} returned nothing")
    known[title] = created
    state["supportsUrlEncoding"] = bool(created.supports_url_encoding)
    return created.id


def _pages_project(client: cloudflare.Cloudflare, adapter: ModuleType, account: str, state: dict[str, Any]) -> str:
    import cloudflare

    name = str(state["name"])
    bindings: Mapping[str, Mapping[str, str]] = adapter.read_pages_kv_bindings(state)
    configs: Any = {
        environment: {"kv_namespaces": {b: {"namespace_id": nid} for b, nid in ids.items()}}
        for environment, ids in bindings.items()
    }
    branch = str(state.get("productionBranch") or "main")
    try:
        client.pages.projects.get(name, account_id=account)
    except cloudflare.NotFoundError:
        project = client.pages.projects.create(
            account_id=account, name=name, production_branch=branch, deployment_configs=configs
        )
    else:
        project = client.pages.projects.edit(
            name, account_id=account, name=name, production_branch=branch, deployment_configs=configs
        )
    state["subdomain"] = project.subdomain or f"{name}.pages.dev"
    return str(project.id or name)


def _account_token(
    client: cloudflare.Cloudflare, listings: _Listings, adapter: ModuleType, account: str, state: dict[str, Any]
) -> str:
    name = str(state["name"])
    # A second `local up` replaces the token of the same name: one live token per declared token.
    tokens = listings.tokens(account)
    for token in [t for t in tokens if t.name == name and t.id]:
        client.accounts.tokens.delete(token.id, account_id=account)
        tokens.remove(token)
    policies: Any = [
        {
            "effect": policy["effect"],
            "permission_groups": [{"id": gid} for gid in policy["permission_group_ids"]],
            "resources": policy["resources"],
        }
        for policy in adapter.read_token_policies(state)
    ]
    # No expiresOn: the catalog declares the token `expires: never`; the API is asked for none.
    expiry: Any = {"expires_on": str(state["expiresOn"])} if state.get("expiresOn") else {}
    created = client.accounts.tokens.create(account_id=account, name=name, policies=policies, **expiry)
    if created is None or not created.id or not created.value:
        raise CloudflareError(f"creating token {name} returned no id or value")
    state["status"] = "active"
    state["value"] = created.value
    return created.id
