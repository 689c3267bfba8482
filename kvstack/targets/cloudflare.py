"""The real Cloudflare: outputs from ``--outputs FILE`` or ``pulumi stack output``, the token from the environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Final

from kvstack.errors import OutputsError
from kvstack.outputs import Outputs, outputs_from_stack_output, read_outputs_file
from kvstack.targets.base import Target

__all__ = ["API_URL_ENV", "TOKEN_ENV", "CloudflareTarget"]

TOKEN_ENV: Final = "CLOUDFLARE_API_TOKEN"
# Wrangler's own variable; honoured as wrangler honours it (ends in /client/v4).
API_URL_ENV: Final = "CLOUDFLARE_API_BASE_URL"
PULUMI_TIMEOUT: Final = 120


class CloudflareTarget(Target):
    name = "cloudflare"
    label = "real Cloudflare"

    @property
    def outputs_source(self) -> str:
        if self.outputs_file is not None:
            return f"file {self.outputs_file}"
        return f"`pulumi stack output --stack {self.stack}`"

    def _read_outputs(self, with_secrets: bool) -> Outputs:
        self._refuse_local_state()
        outputs = read_outputs_file(self.outputs_file) if self.outputs_file else self._from_pulumi(with_secrets)
        # `pulumi stack output --stack org/proj/dev` exports stack "dev": compare the stack's own name.
        if outputs.stack != self.stack.rsplit("/", 1)[-1]:
            raise OutputsError(
                f"{outputs.source}: the outputs are of stack {outputs.stack!r}, not {self.stack!r}",
                hint=f"pass the outputs of stack {self.stack}, or --stack {outputs.stack}",
            )
        return outputs

    def _refuse_local_state(self) -> None:
        from kvstack.local.state import LocalState, state_dir

        if self.outputs_file is not None and self.outputs_file.resolve().is_relative_to(state_dir(self.root).resolve()):
            raise self.refuse(
                f"--outputs {self.outputs_file} is the local Cloudflare's state, but the target is the real Cloudflare",
                "add --local (or KVSTACK_LOCAL=1) to use the local Cloudflare, which reads its own outputs; "
                "for the real one pass the file `pulumi stack output --json` wrote",
            )
        state = LocalState.load(self.root)
        url = self.explicit_api_url
        if state is not None and url is not None and url.rstrip("/").startswith(state.api_url.rstrip("/")):
            raise self.refuse(
                f"the API URL {url} is the local Cloudflare's, but the target is the real Cloudflare",
                "add --local (or KVSTACK_LOCAL=1) to check the local Cloudflare with its own outputs and token",
            )

    def _from_pulumi(self, with_secrets: bool) -> Outputs:
        pulumi = shutil.which("pulumi")
        if pulumi is None:
            raise OutputsError(
                "the real Cloudflare's outputs come from `pulumi stack output`, and the Pulumi CLI is not on PATH",
                hint="install Pulumi (https://www.pulumi.com/docs/install/) and `pulumi login`, or pass --outputs "
                "FILE (saved `pulumi stack output --json`); for the local Cloudflare add --local",
            )
        command = [pulumi, "stack", "output", "--json", "--stack", self.stack]
        if with_secrets:
            command.append("--show-secrets")
        try:
            result = subprocess.run(
                command, cwd=self.root, capture_output=True, text=True, check=False, timeout=PULUMI_TIMEOUT
            )
        except subprocess.TimeoutExpired as exc:
            raise OutputsError(
                f"`pulumi stack output --stack {self.stack}` did not answer within {PULUMI_TIMEOUT} s",
                hint="check `pulumi whoami` (the backend may be unreachable), or pass --outputs FILE",
            ) from exc
        if result.returncode != 0:
            raise OutputsError(
                f"`pulumi stack output` failed for stack {self.stack}: {result.stderr.strip()[:500]}",
                hint=f"run `pulumi up --stack {self.stack}` first, or pass --outputs FILE",
            )
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise OutputsError(f"`pulumi stack output --json` did not print JSON: {exc.msg}") from exc
        return outputs_from_stack_output(data, f"pulumi stack {self.stack}")

    def api_url(self) -> str | None:
        return self.explicit_api_url or os.environ.get(API_URL_ENV) or None

    @property
    def token_source(self) -> str:
        return TOKEN_ENV

    def api_token(self) -> str:
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise self.refuse(
                f"no API token: {TOKEN_ENV} is not set (the real Cloudflare is the target)",
                f"export {TOKEN_ENV} with a token that can read KV, Pages, Workers and API tokens of the account, "
                "or target the local Cloudflare with --local (KVSTACK_LOCAL=1)",
            )
        return token

    def account_id(self) -> str:
        return self.outputs().account_id
