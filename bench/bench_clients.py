#!/usr/bin/env python3
"""Which HTTP client should `cloud bench` use in each process? The same
open-loop worker (orchestrator/loadgen/generator.py) with its own small HTTP/1.1
client (http1.Connection) or with aiohttp, one process, at rising rates.

    .venv/bin/pip install aiohttp        # only for this comparison
    .venv/bin/python bench/bench_clients.py http://127.0.0.1:18080/x [RATE ...]

Aim it at a target much faster than the client (e.g. an HAProxy answering
with `http-request return`) so that the client is what runs out. Prints, per
client and rate: sent/s, arrivals not sent, p50/p99 latency and the CPU
seconds the process used per 1000 requests. sent/s is over the time the sends
took (a backlog sent after the schedule ended does not count as keeping up). Bounded: 5 s per run.
"""
from __future__ import annotations

import asyncio
import sys
import time
from urllib.parse import urlsplit

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.dirname(__file__)))

from orchestrator.loadgen import generator, report  # noqa: E402 - the checkout on the path first
from orchestrator.loadgen.generator import Load, Target, Worker  # noqa: E402 - the same

DURATION = 5.0


class AiohttpConnection:
    """The Connection interface over one shared aiohttp session (keep-alive pool)."""
    session = None
    limit = 32

    def __init__(self, host: str, port: int, host_header: str):
        self.base = f"http://{host}:{port}"
        self.headers = {"Host": host_header}

    async def get(self, path: str):
        import aiohttp
        cls = type(self)
        if cls.session is None:
            cls.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=cls.limit))
        async with cls.session.get(self.base + path, headers=self.headers) as answer:
            return answer.status, await answer.read()

    def close(self):
        pass


async def one(load: Load):
    worker = Worker(load, asyncio.get_running_loop().time() + 0.1)
    books = await worker.run()
    if AiohttpConnection.session is not None:
        await AiohttpConnection.session.close()
        AiohttpConnection.session = None
    return books


def main() -> None:
    url = sys.argv[1]
    rates = [float(r) for r in sys.argv[2:]] or [1000, 2000, 3000, 4000, 6000]
    parts = urlsplit(url)
    target = Target.of(f"{parts.scheme}://{parts.netloc}", parts.path or "/", None)
    raw = generator.Connection
    print(f"{'client':8} {'offered/s':>9} {'sent/s':>8} {'not sent':>8} {'p50 ms':>7} {'p99 ms':>7} {'cpu s/1k':>8}")
    for rate in rates:
        for name, conn in (("raw", raw), ("aiohttp", AiohttpConnection)):
            generator.Connection = conn
            cpu = time.process_time()
            books = asyncio.run(one(Load(target, rate, DURATION, connections=32, seed=1)))
            cpu = time.process_time() - cpu
            lat = sorted(s.latency * 1000 for s in books.samples if s.latency is not None)
            window = max([DURATION] + [s.offset + s.wait for s in books.samples])   # a backlog counts
            print(f"{name:8} {rate:9g} {books.sent / window:8.0f} {sum(books.not_sent.values()):8d} "
                  f"{report.percentile(lat, 50) or 0:7.2f} {report.percentile(lat, 99) or 0:7.2f} "
                  f"{cpu / max(books.sent, 1) * 1000:8.3f}", flush=True)
    generator.Connection = raw


if __name__ == "__main__":
    main()
