"""The generator's HTTP/1.1 client (loadgen/http1.py): heads, chunked bodies, the node of an answer."""
from __future__ import annotations

import asyncio

import pytest

from orchestrator.loadgen import schedule
from orchestrator.loadgen.generator import node_of
from orchestrator.loadgen.http1 import parse_head, read_chunked


def test_parse_head():
    assert parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: x") == (200, 12, False, True)
    assert parse_head(b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n"
                      b"Connection: close") == (503, None, True, False)
    assert parse_head(b"HTTP/1.0 200 OK") == (200, None, False, False)
    assert parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive") == (200, None, False, True)
    for junk in (b"SSH-2.0-OpenSSH", b"HTTP/1.1 abc OK", b"HTTP/1.1 200 OK\r\nContent-Length: -1"):
        with pytest.raises(schedule.ProtocolError):
            parse_head(junk)


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_chunked_bodies():
    async def read(data):
        return await read_chunked(_reader(data))
    assert asyncio.run(read(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n")) == b"hello world"
    with pytest.raises(schedule.ProtocolError):
        asyncio.run(read(b"zz\r\n"))
    with pytest.raises(asyncio.IncompleteReadError):
        asyncio.run(read(b"5\r\nhel"))


def test_node_of_a_json_body():
    assert node_of(b'{"job": "light", "node": "light-3"}') == "light-3"
    assert node_of(b'{"node": 3}') == "" and node_of(b"<html>") == "" and node_of(b"{bad") == ""
    assert node_of(b"[1]") == ""
