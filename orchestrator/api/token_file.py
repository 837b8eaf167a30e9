"""The API bearer token: one random secret in a file only root can read.

The manager calls :func:`ensure_token` at start-up. The first time, it writes
32 random bytes (URL-safe base64, 43 characters) into the token file with mode
600, creating its directory with mode 700; later starts reuse the same file so
that CLIs configured earlier keep working. The API compares the bearer token a
client sends with this value (in constant time, see ``api/auth.py``).
"""
from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

TOKEN_BYTES = 32


class TokenFileError(RuntimeError):
    """The token file exists but cannot be used (empty, unreadable...)."""


def generate_token() -> str:
    """Return a new random token (32 bytes of entropy, URL-safe text)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def read_token(path: str | os.PathLike) -> str:
    """Read the token stored in ``path`` (surrounding whitespace ignored)."""
    path = Path(path)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenFileError(f"cannot read the API token file {path}: {exc.strerror}") from exc
    if not token:
        raise TokenFileError(f"the API token file {path} is empty; delete it and restart the manager "
                             "to get a new token")
    return token


def ensure_token(path: str | os.PathLike) -> str:
    """Return the token in ``path``, creating the file first if it is missing.

    The token is written to a private temporary file beside it, which is
    then linked to ``path`` (``os.link`` fails if ``path`` exists): the file
    appears whole or not at all, mode 600, never readable by others, not
    even for an instant. Two managers starting at once: one link wins, the
    other reads the winner's token (never an empty file)."""
    path = Path(path)
    if path.exists():
        return read_token(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = generate_token()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")     # mode 600
    try:
        _write(fd, token)
        os.link(tmp, path)
    except FileExistsError:
        return read_token(path)  # somebody else won the race: use theirs
    finally:
        os.unlink(tmp)
    return token


def _write(fd: int, token: str) -> None:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
