"""What every target shares: where outputs, API URL, token and app URLs come from, said once.

A target is chosen once per run (``--local`` / ``KVSTACK_LOCAL``) and alone decides those four things;
the modules beside this one (``cloudflare.py``, ``local.py``) hold only what differs. Commands ask the
target and never look for outputs themselves, so a run can never take the local Cloudflare's ids to the
real API or the cloud stack's ids to the local one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kvstack.errors import UsageError

if TYPE_CHECKING:
    from kvstack.cloudflare import CloudflareApi
    from kvstack.outputs import Outputs

__all__ = ["Target"]


class Target(ABC):
    """One stack as deployed on one Cloudflare (real or local)."""

    #: The name the registry knows the target by, and the report records.
    name: ClassVar[str]
    #: How people call it in messages.
    label: ClassVar[str]

    def __init__(self, root: Path, stack: str, *, outputs_file: Path | None = None, api_url: str | None = None):
        self.root = root
        self.stack = stack
        self.outputs_file = outputs_file
        self.explicit_api_url = api_url
        self._outputs: dict[bool, Outputs] = {}

    # --- what differs per target -------------------------------------------------------------------------------

    @property
    @abstractmethod
    def outputs_source(self) -> str:
        """Where the outputs document comes from, for people (a file, `pulumi stack output`, the local state)."""

    @abstractmethod
    def _read_outputs(self, with_secrets: bool) -> Outputs:
        """Read and validate the outputs document (once per run: :meth:`outputs` caches it)."""

    @abstractmethod
    def api_url(self) -> str | None:
        """The API base URL ending in ``/client/v4``; None means the SDK's default (api.cloudflare.com)."""

    @property
    @abstractmethod
    def token_source(self) -> str:
        """Where the API token comes from (an environment variable, a file): named in every auth error."""

    @abstractmethod
    def api_token(self) -> str:
        """The API token; a UsageError (exit 2) saying what to do when there is none."""

    @abstractmethod
    def account_id(self) -> str:
        """The account the stack lives in."""

    # --- shared ----------------------------------------------------------------------------------------------

    def outputs(self, *, with_secrets: bool = False) -> Outputs:
        """The stack's validated outputs document from this target's one source."""
        if with_secrets not in self._outputs:
            # A document read with secrets serves a caller that does not need them too.
            cached = self._outputs.get(True)
            self._outputs[with_secrets] = cached if cached is not None else self._read_outputs(with_secrets)
        return self._outputs[with_secrets]

    def app_urls(self) -> dict[str, str]:
        """Each app's URL from the outputs (the apps that have one), a store's app's included."""
        outputs = self.outputs()
        stores = {store.app: store.app_url for store in outputs.stores.values() if store.app_url}
        return {**stores, **{name: app.url for name, app in outputs.apps.items() if app.url}}

    def api_client(self, token: str | None = None, **settings: Any) -> CloudflareApi:
        """The Cloudflare API of this target with its token (or ``token``); ``settings`` are ApiSettings fields."""
        from kvstack.cloudflare import ApiSettings, connect

        settings = {
            "account_id": self.account_id(),
            "base_url": self.api_url(),
            "token_source": self.token_source,  # named when the API refuses the token (fail fast)
            "token_hint": self.token_hint,
            **settings,
        }
        return connect(token or self.api_token(), ApiSettings(**settings))

    def role_token(self, role: str) -> str:
        """The token a read-only command runs with: here, the one the user gives (:meth:`api_token`).

        The real Cloudflare's user exports the ``role`` token as the API token; the local target overrides this.
        """
        return self.api_token()

    def role_token_source(self, role: str) -> str:
        """Where :meth:`role_token` takes the ``role`` token from, named when the API refuses it."""
        return self.token_source

    @property
    def token_hint(self) -> str | None:
        """What to do when the API refuses :meth:`api_token`; None: set its source to a valid token.

        That default suits a token the user gives; a target that issues its own tokens says how to issue them again.
        """
        return None

    def role_token_hint(self, role: str) -> str | None:
        """What to do when the API refuses :meth:`role_token` (see :attr:`token_hint`)."""
        return self.token_hint

    def deployed_files(self) -> Path:
        """Where the wrangler files that are deployed live: the project itself (local: the rendered tree)."""
        return self.root

    def shown_api_url(self) -> str:
        return self.api_url() or "https://api.cloudflare.com/client/v4"

    def describe(self, *, api: bool = False) -> str:
        """One line for people: which target and which outputs source (and API, token source with ``api``)."""
        line = f"target: {self.label} (stack {self.stack}); outputs from {self.outputs_source}"
        if api:
            line += f"; API {self.shown_api_url()}, token from {self.token_source}"
        return line

    def document(self) -> dict[str, Any]:
        """The same for the JSON report (no secrets: the token is named by its source only)."""
        return {
            "name": self.name,
            "stack": self.stack,
            "outputs_source": self.outputs_source,
            "api_url": self.shown_api_url(),
            "token_source": self.token_source,
        }

    @staticmethod
    def refuse(message: str, hint: str) -> UsageError:
        """A mixing or missing-source error: exit 2 with what to do."""
        return UsageError(message, hint=hint)
