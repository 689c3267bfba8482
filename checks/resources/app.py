"""An app under a flow: its URL, an HTTP client, its namespaces, and polling for eventually consistent KV.

KV is eventually consistent: a write may reach other locations 60 s or more later. A flow therefore
never reads once: :func:`poll` asks again with a growing delay until the answer is the one expected
or the consistency window has passed, and then says what it last found.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from checks.context import FlowSecrets
from kvstack.cloudflare import CloudflareApi, KvEntry
from kvstack.keyspace import Keyspace, smoke_id

__all__ = ["FlowApp", "FlowTimeout", "poll"]

T = TypeVar("T")


class FlowTimeout(AssertionError):
    """What a flow waited for never happened within the consistency window."""


def poll(
    what: str,
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    window: float,
    describe: Callable[[T], str] = repr,
    first_delay: float = 0.05,
    max_delay: float = 2.0,
) -> T:
    """``probe()`` until ``done(result)``, backing off up to ``max_delay``; FlowTimeout after ``window`` s."""
    deadline = time.monotonic() + window
    delay = first_delay
    attempts = 0
    while True:
        result = probe()
        attempts += 1
        if done(result):
            return result
        if time.monotonic() + delay > deadline:
            raise FlowTimeout(f"{what}: not seen within {window:g} s ({attempts} tries); last found {describe(result)}")
        time.sleep(delay)
        delay = min(delay * 2, max_delay)


@dataclass
class FlowApp:
    """One app a flow drives, with the namespaces behind its bindings and a smoke-key registry."""

    app: str
    flow: str
    url: str | None
    api: CloudflareApi
    namespaces: dict[str, str]  # binding -> production namespace id
    preview_namespaces: dict[str, str]  # binding -> its preview twin (cleaned too: a misbound app writes there)
    keyspaces: dict[str, Keyspace]  # binding -> keyspace
    secrets: FlowSecrets
    run_id: str
    window: float
    smoke_keys: set[tuple[str, str]] = field(default_factory=set)
    runtime_token: str | None = field(default=None, repr=False)  # rest apps: the value of their runtime token
    no_runtime: str | None = None  # why the target runs nothing for the app (local), when it does not
    timeout: float = 15.0

    @property
    def label(self) -> str:
        return f"{self.flow} flow of {self.app}" + (f" at {self.url}" if self.url else "")

    def smoke(self, what: str) -> str:
        """A smoke id for this run: ``kvstack-smoke-<run>-<what>``."""
        return smoke_id(f"{self.run_id}-{what}")

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        assert self.url is not None
        with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
            yield client

    def will_write(self, binding: str, key: str) -> str:
        """Record that ``key`` of ``binding``'s namespace may be written, so the run deletes it at the end.

        The preview twin too: an app bound to it by mistake (wrangler dev binds ``preview_id`` when a file
        has both) writes there, and its smoke data must not outlive the run either.
        """
        self.smoke_keys.add((self.namespaces[binding], key))
        if binding in self.preview_namespaces:
            self.smoke_keys.add((self.preview_namespaces[binding], key))
        return key

    def entry(self, binding: str, key: str) -> KvEntry | None:
        return self.api.get_entry(self.namespaces[binding], key)

    def wait_for_entry(
        self, binding: str, key: str, done: Callable[[KvEntry | None], bool], what: str
    ) -> KvEntry | None:
        return poll(
            f"{what} (key {key!r} of {self.app}.{binding})",
            lambda: self.entry(binding, key),
            done,
            window=self.window,
            describe=_describe_entry,
        )

    def remaining_ttl(self, entry: KvEntry) -> float | None:
        return None if entry.expiration is None else entry.expiration - time.time()

    def cleanup(self) -> None:
        """Delete every smoke key this flow may have written (idempotent)."""
        by_namespace: dict[str, list[str]] = {}
        for namespace_id, key in sorted(self.smoke_keys):
            by_namespace.setdefault(namespace_id, []).append(key)
        for namespace_id, keys in by_namespace.items():
            self.api.delete_keys(namespace_id, keys)


def _describe_entry(entry: KvEntry | None) -> str:
    if entry is None:
        return "no such key"
    value = entry.value if len(entry.value) <= 120 else entry.value[:117] + "..."
    ttl = "no TTL" if entry.expiration is None else f"expiration {entry.expiration:.0f}"
    return f"{value!r} ({ttl})"
