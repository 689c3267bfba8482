"""The local Cloudflare: outputs, API URL, token and app URLs only from the running ``kvstack local up``."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from kvstack.local.state import LocalState, local_outputs_file, state_dir
from kvstack.outputs import Outputs, read_outputs_file
from kvstack.targets.base import Target

__all__ = ["LocalTarget"]


class LocalTarget(Target):
    name = "local"
    label = "local Cloudflare"

    def __init__(self, root: Path, stack: str, *, outputs_file: Path | None = None, api_url: str | None = None):
        super().__init__(root, stack, outputs_file=outputs_file, api_url=api_url)
        for flag, given in (("--outputs", outputs_file), ("--api-url", api_url)):
            if given is not None:
                raise self.refuse(
                    f"{flag} {given} is for the real Cloudflare, but the target is the local one (--local)",
                    f"drop {flag}: the local Cloudflare's outputs, API and token come from its running "
                    f"`kvstack local up`; or drop --local (and KVSTACK_LOCAL) to target the real Cloudflare",
                )

    @cached_property
    def state(self) -> LocalState:
        """The running local Cloudflare's record; a UsageError (exit 2) when it is not running this stack."""
        start = f"start it with `kvstack local up --stack {self.stack}`"
        state = LocalState.load(self.root)
        if state is None:
            raise self.refuse(f"the local Cloudflare is not running in {self.root} (--local)", start)
        if not _answers(state.api_url):
            raise self.refuse(f"the local Cloudflare's API at {state.api_url} does not answer (--local)", start)
        if state.stack != self.stack:
            raise self.refuse(
                f"the local Cloudflare runs stack {state.stack!r}, not {self.stack!r}",
                f"pass --stack {state.stack}, or restart it with `kvstack local up --stack {self.stack}`",
            )
        if not local_outputs_file(self.root, self.stack).is_file():
            raise self.refuse(f"the local Cloudflare has not applied stack {self.stack}", start)
        return state

    @property
    def outputs_source(self) -> str:
        return f"the running local Cloudflare ({local_outputs_file(self.root, self.stack)})"

    def _read_outputs(self, with_secrets: bool) -> Outputs:
        _ = self.state
        return read_outputs_file(local_outputs_file(self.root, self.stack))

    def api_url(self) -> str:
        return self.state.api_url.rstrip("/") + "/client/v4"

    @property
    def token_source(self) -> str:
        return f"the local token file {self.state.token_file}"

    def api_token(self) -> str:
        try:
            return Path(self.state.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise self.refuse(
                f"cannot read the local Cloudflare's token file {self.state.token_file}: {exc.strerror}",
                "restart it with `kvstack local down && kvstack local up`",
            ) from exc

    @property
    def token_hint(self) -> str:
        return self._reissue(self.token_source)

    def account_id(self) -> str:
        return self.state.account_id

    def role_token(self, role: str) -> str:
        """The value of the stack's token with ``role`` from the local outputs (never the bootstrap token)."""
        for token in self.outputs(with_secrets=True).tokens.values():
            if token.role == role and token.value:
                return token.value
        raise self.refuse(
            f"the outputs of stack {self.stack} ({self.outputs_source}) carry no value of a token with role {role}",
            f"declare a token with `role: {role}` in the catalog and run `kvstack local up` again",
        )

    def role_token_source(self, role: str) -> str:
        return f"the {role} token's value in the local outputs ({local_outputs_file(self.root, self.stack)})"

    def role_token_hint(self, role: str) -> str:
        return self._reissue(self.role_token_source(role))

    def _reissue(self, source: str) -> str:
        """The hint for a refused token: `local up` issued it (a user cannot set it), so `local up` issues it again."""
        return (
            f"this token is issued by `kvstack local up` and read from {source}: run `kvstack local down` and "
            f"`kvstack local up --stack {self.stack}` to issue it again (or `kvstack local reset` and then "
            f"`kvstack local up --stack {self.stack}` to start from an empty local Cloudflare)"
        )

    def deployed_files(self) -> Path:
        return self.tree() or self.root

    def app_urls(self) -> dict[str, str]:
        return {**super().app_urls(), **self.state.apps}

    def tree(self) -> Path | None:
        """Where the rendered files the runtime runs live (None before the first `up`)."""
        tree = state_dir(self.root) / "tree"
        return tree if tree.is_dir() else None


def _answers(api_url: str) -> bool:
    """Whether the local API accepts connections (a TCP probe: no request shows up in its request log)."""
    from urllib.parse import urlsplit

    from kvstack.local.processes import port_answers

    port = urlsplit(api_url).port
    return port is not None and port_answers(port)
