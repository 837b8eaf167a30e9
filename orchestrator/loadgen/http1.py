"""A small HTTP/1.1 client on asyncio streams: GET over one keep-alive
connection, bodies by Content-Length, chunked or until close.

It does only what a load generator needs, and no more per request than it
must (no header objects, no redirects, no TLS): ``Connection.get`` returns
the status and the body. A reused connection that the server closed while
idle fails before any byte of the answer; ``get`` then retries once on a new
connection, as browsers do for idempotent requests, so the bench does not
report HAProxy's keep-alive timeout as errors.
"""
from __future__ import annotations

import asyncio

from orchestrator.loadgen.schedule import ProtocolError

MAX_HEADER = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


def request_bytes(path: str, host: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: simplecloud-bench\r\n"
            "Accept: */*\r\n\r\n").encode("latin-1")


def parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    """(status, content length or None, chunked, keep-alive) of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    status, length, chunked = int(parts[1]), None, False
    keep_alive = parts[0] != "HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            if not value.isdigit():
                raise ProtocolError(f"bad Content-Length {value!r}")
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection":
            keep_alive = "close" not in value if keep_alive else "keep-alive" in value
    return status, length, chunked, keep_alive


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_line[:40]!r}") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":     # trailers
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY:
            raise ProtocolError("body larger than 16 MiB")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError("chunk not followed by CRLF")


class Connection:
    """One keep-alive connection to ``host:port`` (opened on first use)."""

    def __init__(self, host: str, port: int, host_header: str):
        self.host, self.port, self.host_header = host, port, host_header
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._exchange(path)
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as exc:
            nothing_read = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
            self.close()
            if not (reused and nothing_read):
                raise
            return await self._exchange(path)   # the server had closed the idle connection

    async def _exchange(self, path: str) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader = self.reader
        self.writer.write(request_bytes(path, self.host_header))
        await self.writer.drain()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise ProtocolError("response head larger than the stream limit") from None
        status, length, chunked, keep_alive = parse_head(head[:-4])
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            body = await read_chunked(reader)
        elif length is not None:
            if length > MAX_BODY:
                raise ProtocolError("body larger than 16 MiB")
            body = await reader.readexactly(length)
        else:
            body, keep_alive = await reader.read(MAX_BODY), False
        if not keep_alive:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
