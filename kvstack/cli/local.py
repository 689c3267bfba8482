"""`kvstack local install|up|down|status|reset|outputs`: a Cloudflare on loopback from real parts."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kvstack.cli.common import RootOption, StackOption, env, find_root, resolve_stack
from kvstack.cli.output import Output

local_app = typer.Typer(
    name="local",
    help="The local Cloudflare: real wrangler/Miniflare for the apps and KV, a Cloudflare API v4 subset on loopback.",
    no_args_is_help=True,
)


@local_app.command("install")
def install() -> None:
    """Install the pinned wrangler (npm packages locked in kvstack) into the user cache; once per version.

    `kvstack local up` needs it. The cache is ~/.cache/kvstack (or $XDG_CACHE_HOME/kvstack, or
    $KVSTACK_CACHE_DIR); the npm registry (or the mirror set in ~/.npmrc) is needed once.
    """
    from kvstack.local.install import install_wrangler

    output = Output()
    folder = install_wrangler(progress=output.info)
    output.success(f"wrangler is installed in {folder}")


@local_app.command("up")
def up(
    stack: StackOption = None,
    root: RootOption = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port of the API (default: a free one)", **env("KVSTACK_LOCAL_PORT")),
    ] = None,
    latency_ms: Annotated[
        int,
        typer.Option("--latency-ms", help="Added latency per API request", **env("KVSTACK_LOCAL_LATENCY_MS")),
    ] = 0,
    faults: Annotated[
        str | None,
        typer.Option(
            help='Shares of injected faults, e.g. "429=0.1,500=0.05,drop=0.02" (seeded by --seed) ',
            **env("KVSTACK_LOCAL_FAULTS"),
        ),
    ] = None,
    rate_limit: Annotated[
        str | None,
        typer.Option(
            "--rate-limit",
            help="Requests per window per token, N/SECONDS \\[default: 1200/300]",
            **env("KVSTACK_LOCAL_RATE_LIMIT"),
        ),
    ] = None,
    consistency_delay: Annotated[
        float,
        typer.Option(
            "--consistency-delay",
            help="Seconds before a write shows up in key listings",
            **env("KVSTACK_LOCAL_CONSISTENCY_DELAY"),
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the fault draws", **env("KVSTACK_LOCAL_SEED"))] = 0,
) -> None:
    """Start the local Cloudflare and apply STACK to it: API, namespaces, Pages projects, tokens, apps.

    One line per app says what runs for it: a worker app whose wrangler file names a `main` that exists runs
    its own code in place (bound to the production ids); otherwise kvstack's reference app for it, if there
    is one (the seeds); otherwise nothing (a REST client, a Pages app, a `main` not built yet): the app gets
    its namespaces and no runtime, and `up` still exits 0. Returns when the API and every running app answer.
    Prints the API URL, the app URLs and the file holding the bootstrap token (mode 0600; the token itself
    is never printed). State stays in .kvstack/local/. Exit 2 on a configuration error.
    """
    from kvstack.local.control import Knobs
    from kvstack.local.control import up as start

    output = Output()
    project = find_root(root)
    stack = resolve_stack(project, stack)
    state = start(
        project,
        stack,
        port=port,
        knobs=Knobs(
            latency_ms=latency_ms, faults=faults, rate_limit=rate_limit, consistency_delay=consistency_delay, seed=seed
        ),
        progress=output.info,
    )
    output.table(
        f"local Cloudflare — stack {stack}",
        ["what", "where"],
        [
            ("API", f"{state.api_url}/client/v4"),
            ("account", state.account_id),
            ("bootstrap token file", state.token_file),
            *((f"app {name}", url) for name, url in state.apps.items()),
        ],
    )
    output.success("local Cloudflare is up; `kvstack local down` stops it")


@local_app.command("down")
def down(root: RootOption = None) -> None:
    """Stop exactly the processes `kvstack local up` started (by their recorded ids). Data is kept."""
    from kvstack.local.control import down as stop

    output = Output()
    stopped = stop(find_root(root), progress=output.info)
    if not stopped:
        output.info("nothing was running")
    for record in stopped:
        output.success(f"stopped {record.name} (pid {record.pid})")


@local_app.command("status")
def status(
    root: RootOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print api_url, account_id, token_file and apps as JSON", **env("KVSTACK_JSON_OUTPUT")
        ),
    ] = False,
) -> None:
    """What is running: API URL, account, token file, each app's URL and whether each process is alive.

    One line per app says what runs for it (its own code, kvstack's reference app, or nothing, and why).

    Exit 0 when everything recorded is alive, 1 when something is down or nothing was started.
    """
    from kvstack.local.control import status as read

    output = Output()
    document = read(find_root(root))
    if as_json:
        output.json(document or {})
    elif document is None:
        output.info("the local Cloudflare was never started here; run `kvstack local up`")
    else:
        output.table(
            f"local Cloudflare — stack {document['stack']}",
            ["process", "pid", "url", "alive"],
            [(p["name"], p["pid"], p["url"], "yes" if p["alive"] else "NO") for p in document["processes"]],
        )
        for line in (document.get("runs") or {}).values():
            output.info(line)  # what runs for each app, as `up` said
        pending = (document.get("writes") or {}).get("pending")
        if pending:
            output.info(
                f"{pending:,} KV writes answered by the API are not in the storage yet: reads through the API see "
                "them, a Worker's binding once they are stored (`kvstack local down` waits for them)"
            )
    alive = bool(document and document["processes"]) and all(p["alive"] for p in document["processes"])  # type: ignore[index]
    raise typer.Exit(0 if alive else 1)


@local_app.command("reset")
def reset(
    root: RootOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation", **env("KVSTACK_YES"))] = False,
) -> None:
    """Stop everything and delete all local state: namespaces, KV data, tokens, outputs."""
    from kvstack.local.control import reset as wipe

    output = Output()
    folder = find_root(root)
    if not yes and not output.confirm(f"delete all local Cloudflare state under {folder / '.kvstack/local'}?"):
        raise typer.Exit(1)
    wipe(folder)
    output.success("local state deleted")


@local_app.command("outputs")
def outputs(
    stack: StackOption = None,
    root: RootOption = None,
    with_secrets: Annotated[
        bool,
        typer.Option("--with-secrets", help="Include token values", **env("KVSTACK_WITH_SECRETS")),
    ] = False,
) -> None:
    """Print the outputs document of STACK as applied to the local Cloudflare (JSON)."""
    from kvstack.errors import OutputsError
    from kvstack.local.state import local_outputs_file
    from kvstack.outputs import read_outputs_file

    project = find_root(root)
    stack = resolve_stack(project, stack)
    path = local_outputs_file(project, stack)
    if not path.is_file():
        raise OutputsError(
            f"stack {stack} was not applied to the local Cloudflare", hint=f"run `kvstack local up --stack {stack}`"
        )
    document = read_outputs_file(path).to_document(with_secrets=with_secrets)
    Output().text(json.dumps(document, indent=2) + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(local_app)
