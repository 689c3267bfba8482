"""RESP2 on a loopback socket: what the Upstash REST front says to the Redis-compatible server.

A REST front must relay every reply verbatim, error prefixes included (``WRONGTYPE …``, ``NOPERM …``):
Upstash's clients show them as they come. valkey-py's parser turns errors into exception classes and
strips their prefix, and its client reshapes replies per command (HGETALL → dict, SCAN → tuple), so the
front speaks the protocol itself: arrays of bulk strings out, the five RESP2 reply types in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["Connection", "Reply", "ReplyError", "SimpleString", "encode_command"]


class SimpleString(str):
    """A ``+…`` status reply (``OK``, ``PONG``, ``QUEUED``, ``hash``), kept apart from bulk strings."""


@dataclass(frozen=True)
class ReplyError:
    """A ``-…`` error reply: the whole line, prefix included (``WRONGTYPE Operation against …``)."""

    message: str


Reply: TypeAlias = "bytes | int | list[Reply] | ReplyError | SimpleString | None"


def encode_command(args: Sequence[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class Connection:
    """One authenticated connection; commands are written together and replies read in order (pipelining)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, user: str, password: str) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**24)
        connection = cls(reader, writer)
        (reply,) = await connection.run([[b"AUTH", user.encode(), password.encode()]])
        if isinstance(reply, ReplyError):
            writer.close()
            raise ConnectionError(f"the Redis server refused user {user}: {reply.message}")
        return connection

    async def run(self, commands: Sequence[Sequence[bytes]]) -> list[Reply]:
        """Send every command in one write and read one reply per command."""
        self.writer.write(b"".join(encode_command(command) for command in commands))
        await self.writer.drain()
        return [await self._reply() for _ in commands]

    async def _reply(self) -> Reply:
        line = await self.reader.readuntil(b"\r\n")
        kind, body = line[:1], line[1:-2]
        if kind == b"+":
            return SimpleString(body.decode("utf-8", "replace"))
        if kind == b"-":
            return ReplyError(body.decode("utf-8", "replace"))
        if kind == b":":
            return int(body)
        if kind == b"$":
            size = int(body)
            if size < 0:
                return None
            data = await self.reader.readexactly(size + 2)
            return data[:-2]
        if kind == b"*":
            count = int(body)
            if count < 0:
                return None
            return [await self._reply() for _ in range(count)]
        raise ConnectionError(f"unexpected RESP reply {line[:40]!r}")

    def close(self) -> None:
        self.writer.close()
