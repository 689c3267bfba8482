"""Write-behind for KV writes and deletes: journaled before the answer, stored into Miniflare in the background.

Why: Miniflare stores a key at 3–4 ms of one core (a Durable Object request, a SQLite transaction and a blob
file per key, whatever the batching: bench/bulk_bench.py), so storing a 10,000-key bulk call takes 30–40 s.
Cloudflare answers such a call at once and makes it visible eventually (up to 60 s in other locations); the
local API does the same:
- a call's writes are journaled (SQLite in the API's state folder, one transaction) before it is answered, so
  a killed API loses nothing it answered: the journal is replayed when the API starts again;
- the call then waits up to ``SYNC_WINDOW`` seconds for its writes to be stored: a small call is answered
  stored, a large one is answered accepted and stored in the background;
- the drain's lanes (LANES) store the writes of small waiting calls, of every waiting call and the backlog,
  one chunk at a time each; a key is never stored while an older write of it is in flight, so the last
  accepted write of a key wins.

What a caller sees while writes are pending (storage.py and values.py read through ``pending``/``pending_in``):
- through this API: its own writes (values, metadata, listings, bulk gets show them; pending deletes hide keys);
- through a Worker's binding, straight from Miniflare: the stored state until the drain reaches the key
  (eventual consistency, as on Cloudflare). A Worker's write to a key that has a pending API write is
  overwritten when that write is stored: the API accepted its write first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvstack.local.api.envelope import ApiError, StorageUnavailable
from kvstack.local.api.expiries import KeptExpiries
from kvstack.local.api.limits import CODE_INTERNAL

__all__ = ["DRAIN_CHUNK", "SYNC_WINDOW", "Journal", "Pending", "Ticket", "WriteBehind"]

log = logging.getLogger("kvstack.local.api.writes")

SYNC_WINDOW = 2.0  # seconds a call waits for its own writes to be stored before it is answered "accepted"
# Keys per drain step: one storage batch. Every write of a namespace goes through one Durable Object, one
# request at a time: fewer keys in flight keep a small call's wait short, and drain no slower (10,000 keys
# while 5 single writes were made: chunks of 100 drained in 16.9 s with writes answered in 0.3-0.4 s; of 400,
# 25.3 s and 0.3-2.1 s).
DRAIN_CHUNK = 100
SMALL_CALL = 100  # a call of at most this many writes is a small one
# The drain's lanes, each storing one chunk at a time: "small" takes the writes of small calls still waiting
# (never queued behind a large call's chunk), "waiting" those of every waiting call, smallest first, and
# "backlog" every pending write, oldest first.
LANES = ("small", "waiting", "backlog")
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0)  # storage failing: the chunk stays pending and is tried again
# A write in a chunk the storage answered with a 5xx this often is stored alone from then on, and refused when
# it fails alone this often: one write Miniflare cannot take must not hold up every other (a storage that does
# not answer at all is waited for, however long).
ISOLATE_AFTER = 2
REFUSE_AFTER = 5

Key = tuple[str, str]  # (namespace id, key)


@dataclass(eq=False)
class Ticket:
    """One call's writes: done when each is stored or replaced by a later write of the same key."""

    outstanding: int
    writes: list[Pending] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: bool = True
    error: ApiError | None = None


@dataclass(eq=False)
class Pending:
    """One accepted write (``value`` None: a delete); ``expiration`` is absolute (a TTL counts from acceptance)."""

    version: int
    namespace: str
    key: str
    value: bytes | None
    expiration: int | None = None
    metadata: Any = None
    ticket: Ticket | None = None  # None for a write replayed from the journal: nobody waits for it
    failures: int = 0  # chunks with this write that the storage answered with a 5xx
    kept_expiry: bool = False  # set by the store step: stored without its expiry, which the API keeps (expiries.py)

    @property
    def slot(self) -> Key:
        return (self.namespace, self.key)

    def gone(self, now: float) -> bool:
        """Whether reads see no value: a delete, or a write whose expiry has passed."""
        return self.value is None or (self.expiration is not None and self.expiration <= now)


def _json(metadata: Any) -> str | None:
    return None if metadata is None else json.dumps(metadata)


class Journal:
    """The accepted, not yet stored writes, on disk (SQLite: one transaction per call, crash-safe)."""

    def __init__(self, path: Path) -> None:
        # It holds values (a session, a token a user stored in KV): owner-only, as the account state. SQLite
        # gives its WAL and shared-memory files the database file's mode.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        path.chmod(0o600)
        # One connection, used only from the event loop's thread (which is not always the creating thread).
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process, which is the case here
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS pending (version INTEGER PRIMARY KEY, namespace TEXT NOT NULL, "
            "key TEXT NOT NULL, value BLOB, expiration INTEGER, metadata TEXT)"
        )

    def add(self, writes: Sequence[Pending]) -> None:
        rows = [(p.version, p.namespace, p.key, p.value, p.expiration, _json(p.metadata)) for p in writes]
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?)", rows)

    def remove(self, writes: Iterable[Pending]) -> None:
        """Forget stored writes and every older write of their keys (a later write of a key stays)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "DELETE FROM pending WHERE namespace = ? AND key = ? AND version <= ?",
                [(p.namespace, p.key, p.version) for p in writes],
            )

    def replay(self) -> list[Pending]:
        rows = self.db.execute(
            "SELECT version, namespace, key, value, expiration, metadata FROM pending ORDER BY version"
        )
        return [
            Pending(version, namespace, key, value, expiration, None if metadata is None else json.loads(metadata))
            for version, namespace, key, value, expiration, metadata in rows
        ]

    def close(self) -> None:
        self.db.close()


# Stores a chunk (distinct keys) as of ``now``; returns the writes the storage refused, with why.
StoreChunk = Callable[[Sequence[Pending], float], Awaitable[dict[Pending, ApiError]]]


class WriteBehind:
    """The pending writes of every namespace, their journal, and the task that drains them into storage."""

    def __init__(self, journal: Journal, store: StoreChunk | None = None) -> None:
        self.journal = journal
        self.store = store  # set by the app once its storage client exists
        self.latest: dict[Key, Pending] = {}  # the last accepted write of each pending key, oldest first
        self.by_namespace: dict[str, dict[str, Pending]] = {}
        self.waiting: list[Ticket] = []  # calls still waiting for their writes
        self.in_flight: dict[Key, Pending] = {}  # both lanes' chunks being stored
        self.kept = KeptExpiries(journal.db)
        self.stored = 0
        self.refused = 0
        self._wake = asyncio.Event()
        self._kept_added = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        replayed = journal.replay()
        self.version = max((p.version for p in replayed), default=0)
        for write in replayed:
            self._accept(write)

    def __len__(self) -> int:
        return len(self.latest)

    def has_work(self) -> bool:
        """Writes to store or kept expiries to watch: the drain must run from the start (a restarted API)."""
        return bool(self.latest or self.kept)

    def describe(self) -> dict[str, Any]:
        return {
            "pending": len(self.latest),
            "in_flight": len(self.in_flight),
            "stored": self.stored,
            "refused": self.refused,
        }

    def pending(self, namespace: str, key: str) -> Pending | None:
        return self.latest.get((namespace, key))

    def pending_in(self, namespace: str, prefix: str, after: str) -> dict[str, Pending]:
        """The pending writes of ``namespace`` whose keys start with ``prefix`` and sort after ``after``, by key."""
        found = self.by_namespace.get(namespace) or {}
        return {key: found[key] for key in sorted(k for k in found if k > after and k.startswith(prefix))}

    def start(self) -> None:
        """Drain in the running event loop (idempotent): at the API's startup (a replayed journal) and on a write."""
        if self.store is None:
            raise RuntimeError("the write-behind has no storage to drain into")
        if not self._tasks or any(task.done() for task in self._tasks):
            loop = asyncio.get_running_loop()
            for task in self._tasks:
                task.cancel()
            self._tasks = [
                loop.create_task(self._drain(self.store, lane), name=f"kvstack-write-behind-{lane}") for lane in LANES
            ]
            self._tasks.append(loop.create_task(self._sweep(), name="kvstack-write-behind-expiries"))
            self._wake.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def submit(self, writes: Sequence[Pending], *, wait: float = SYNC_WINDOW) -> None:
        """Journal ``writes`` (made by ``new``), then wait up to ``wait`` s for them to be stored.

        A refusal by the storage while the call waits is raised; one after it is answered is logged and counted.
        """
        if not writes:
            return
        self.start()
        ticket = Ticket(outstanding=len(writes), writes=list(writes), waiting=wait > 0)
        for write in writes:
            write.ticket = ticket
        self.journal.add(writes)
        for write in writes:
            self._accept(write)
        if wait > 0:
            self.waiting.append(ticket)
        self._wake.set()
        try:
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ticket.done.wait(), wait)
        finally:  # answered, or the caller went away: its writes join the backlog
            ticket.waiting = False
        if ticket.error is not None:
            raise ticket.error

    def new(
        self, namespace: str, key: str, value: bytes | None, expiration: int | None = None, metadata: Any = None
    ) -> Pending:
        self.version += 1
        return Pending(self.version, namespace, key, value, expiration, metadata)

    def _accept(self, write: Pending) -> None:
        slot = write.slot
        older = self.latest.pop(slot, None)  # re-inserted below: the dict stays in acceptance order
        if older is not None and self.in_flight.get(slot) is not older:
            self._settle(older, None)  # replaced before it was stored: the later write is what counts
        self.latest[slot] = write
        self.by_namespace.setdefault(write.namespace, {})[write.key] = write

    def _settle(self, write: Pending, error: ApiError | None) -> None:
        ticket = write.ticket
        if ticket is None:
            return
        if error is not None and ticket.error is None:
            ticket.error = error
        ticket.outstanding -= 1
        if ticket.outstanding == 0:
            ticket.done.set()

    def _next_chunk(self, lane: str) -> list[Pending]:
        """Up to a chunk of current writes of distinct keys, none in flight, for ``lane`` (see LANES).

        A write the storage failed on ISOLATE_AFTER times goes alone.
        """
        limit = SMALL_CALL if lane == "small" else DRAIN_CHUNK
        candidates: Iterable[Pending]
        if lane == "backlog":
            candidates = self.latest.values()
        else:
            self.waiting = [ticket for ticket in self.waiting if ticket.waiting and ticket.outstanding]
            tickets = sorted(self.waiting, key=lambda t: t.outstanding)  # the smallest call first
            if lane == "small":
                tickets = [ticket for ticket in tickets if len(ticket.writes) <= SMALL_CALL]
            candidates = (write for ticket in tickets for write in ticket.writes)
        chosen: dict[Key, Pending] = {}
        for write in candidates:
            if len(chosen) >= limit:
                break
            if self.latest.get(write.slot) is not write or write.slot in self.in_flight or write.slot in chosen:
                continue
            if write.failures >= ISOLATE_AFTER:
                if not chosen:
                    return [write]
                continue
            chosen[write.slot] = write
        return list(chosen.values())

    def _finish(self, chunk: Sequence[Pending], refused: dict[Pending, ApiError]) -> None:
        stored = [write for write in chunk if write not in refused]
        keep = {w.slot: w.expiration for w in stored if w.kept_expiry and w.expiration is not None}
        # Kept expiries first: killed in between, the journal stores the write (and keeps its expiry) again.
        if self.kept.update(keep, forget=[write.slot for write in stored]):
            self._kept_added.set()
        self.journal.remove(chunk)
        for write in chunk:
            if self.latest.get(write.slot) is write:
                del self.latest[write.slot]
                keys = self.by_namespace[write.namespace]
                del keys[write.key]
                if not keys:
                    del self.by_namespace[write.namespace]
            self._settle(write, refused.get(write))
        self.stored += len(stored)
        self.refused += len(refused)
        for write, error in refused.items():
            log.error("the storage refused the write of %r in %s: %s", write.key, write.namespace, error.message)

    async def _drain(self, store: StoreChunk, lane: str) -> None:
        """One lane of the drain (see LANES): chunks stored one after the other, retried while the storage fails."""
        failures = 0
        while True:
            chunk = self._next_chunk(lane)
            if not chunk:
                self._wake.clear()
                await self._wake.wait()
                continue
            self.in_flight.update((write.slot, write) for write in chunk)
            try:
                refused = await store(chunk, time.time())
            except Exception as exc:  # the storage is down or failing (or a write cannot be sent): try again
                error = exc if isinstance(exc, ApiError) else ApiError(500, CODE_INTERNAL, f"storing failed: {exc!r}")
                self._land(chunk)
                if not isinstance(exc, StorageUnavailable):
                    for write in chunk:
                        write.failures += 1
                    if len(chunk) == 1 and chunk[0].failures >= REFUSE_AFTER:
                        self._finish(chunk, {chunk[0]: error})
                        continue
                self._settle_replaced(chunk)
                delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                failures += 1
                log.warning("storing %d pending writes failed (%s); again in %.1f s", len(chunk), error.message, delay)
                await asyncio.sleep(delay)
                continue
            self._land(chunk)
            failures = 0
            self._finish(chunk, refused)
            self._wake.set()  # another lane may wait for a key this chunk held

    def _settle_replaced(self, chunk: Sequence[Pending]) -> None:
        """Writes of a failed chunk that a later write replaced meanwhile: never stored, and done with."""
        for write in chunk:
            if self.latest.get(write.slot) is not write:
                self._settle(write, None)

    def _land(self, chunk: Sequence[Pending]) -> None:
        for write in chunk:
            if self.in_flight.get(write.slot) is write:
                del self.in_flight[write.slot]

    async def _sweep(self) -> None:
        """Delete each key whose kept expiry has passed (unless a later write of it is pending)."""
        while True:
            now = time.time()
            due = [slot for slot in self.kept.due(now) if slot not in self.latest]
            if due:
                await self.submit([self.new(namespace, key, None) for namespace, key in due], wait=0)
            next_due = self.kept.next_due()
            self._kept_added.clear()
            pause = 30.0 if next_due is None else min(30.0, max(0.5, next_due - now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kept_added.wait(), pause)
