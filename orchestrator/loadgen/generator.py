"""The load generator: worker processes, each one asyncio loop with a
scheduler and a bounded set of keep-alive connections.

In each process the *scheduler* wakes at every arrival time of its Poisson
schedule (``schedule.arrivals``) and hands the arrival to the connections
through a queue; a *connection* takes the next arrival, sends it and records
the latency from the arrival's scheduled time (so time spent waiting for a
free connection, or in a slow server, is in the figures). An arrival the
scheduler reaches more than ``max_lag`` late is counted ``late`` and not
sent; one that waited longer than the request timeout for a connection is
counted ``no connection`` (see ``schedule`` for the books).

The parent starts ``procs`` processes (spawned: the caller may have threads),
gives them one common start time, shows progress once a second and collects
their books. Ctrl-C (or ``stop``) ends the schedule at once; requests in
flight get ``STOP_GRACE`` seconds to finish, then count as ``cancelled``.
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import queue as queue_module
import signal
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from orchestrator.loadgen import schedule
from orchestrator.loadgen.http1 import Connection
from orchestrator.loadgen.schedule import Books, SentRequest

STOP_GRACE = 2.0          # s for requests in flight after Ctrl-C
START_MARGIN = 0.2        # s between "all processes ready" and the first arrival
COUNTERS = 4              # per process: arrivals, sent, answered, errors


@dataclass(frozen=True)
class Target:
    """Where requests go: HAProxy's address, the path and the Host header."""
    host: str
    port: int
    path: str
    host_header: str

    @classmethod
    def of(cls, url: str, path: str | None, host: str | None) -> Target:
        """From ``--url`` (http://HOST[:PORT]), ``--path`` and ``--host``; ValueError if unusable."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"--url {url!r}: give http://HOST[:PORT] (the bench speaks plain HTTP/1.1)")
        try:
            port = parts.port or 80
        except ValueError:
            raise ValueError(f"--url {url!r}: the port is not a number from 1 to 65535") from None
        path = path or "/"
        if not path.startswith("/") or any(c.isspace() for c in path):
            raise ValueError(f"--path {path!r}: give a path starting with '/', without spaces")
        if host is not None and (not host or any(c.isspace() or c in "/:" for c in host)):
            raise ValueError(f"--host {host!r}: give a host name, e.g. web.example")
        return cls(parts.hostname, port, path, host or parts.netloc)


@dataclass(frozen=True)
class Load:
    """What one process sends: its share of the rate, and the limits."""
    target: Target
    rate: float
    duration: float
    connections: int = 32
    timeout: float = 10.0
    max_lag: float = 0.25
    seed: int | None = None


def node_of(body: bytes) -> str:
    """The "node" field of a JSON object body, or ''."""
    if not body.startswith(b"{"):
        return ""
    try:
        node = json.loads(body).get("node")
    except (ValueError, AttributeError):
        return ""
    return node if isinstance(node, str) else ""


class Worker:
    """One process's loop: the scheduler, the connections and the books."""

    def __init__(self, load: Load, start: float, counters=None, index: int = 0):
        self.load, self.start = load, start         # start: the loop's clock (time.monotonic)
        self.books = Books()
        self.stopping = asyncio.Event()
        self.counters, self.base = counters, index * COUNTERS
        self.started = self.answered = self.errors = 0       # for the progress line
        self.queue: asyncio.Queue = asyncio.Queue()

    async def run(self) -> Books:
        connections = [asyncio.create_task(self._connection()) for _ in range(self.load.connections)]
        reporter = asyncio.create_task(self._report_counts())
        scheduler, stopped = asyncio.create_task(self._schedule()), asyncio.create_task(self.stopping.wait())
        await asyncio.wait({scheduler, stopped}, return_when=asyncio.FIRST_COMPLETED)
        scheduler.cancel()          # Ctrl-C: no arrival after this one (an arrival counts once its time came)
        stopped.cancel()
        # every queued arrival is sent or expires, and each request ends within the timeout;
        # after Ctrl-C the queue empties at once (STOPPED) and requests in flight get STOP_GRACE
        drained = asyncio.create_task(self.queue.join())
        if not self.stopping.is_set():
            stopped = asyncio.create_task(self.stopping.wait())
            await asyncio.wait({drained, stopped}, timeout=2 * self.load.timeout + 1,
                               return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
        if not drained.done():
            await asyncio.wait({drained}, timeout=STOP_GRACE)
        drained.cancel()
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        if self.queue.qsize():
            self.books.not_sent[schedule.STOPPED] += self.queue.qsize()
        reporter.cancel()
        self._publish()
        return self.books

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        load, books, behind = self.load, self.books, 0
        for offset in schedule.arrivals(load.rate, load.duration, load.seed):
            due = self.start + offset
            wait = due - loop.time()
            if wait > 0:
                behind = 0
                await asyncio.sleep(wait)
            elif (behind := behind + 1) % 64 == 0:
                await asyncio.sleep(0)          # behind schedule: still let the connections run
            books.arrivals += 1
            if loop.time() - due > load.max_lag:
                books.not_sent[schedule.LATE] += 1
            else:
                self.queue.put_nowait(offset)

    async def _connection(self) -> None:
        loop = asyncio.get_running_loop()
        load = self.load
        conn = Connection(load.target.host, load.target.port, load.target.host_header)
        while True:
            offset = await self.queue.get()
            try:
                if self.stopping.is_set():
                    self.books.not_sent[schedule.STOPPED] += 1
                    continue
                due = self.start + offset
                if loop.time() - due > load.timeout:
                    self.books.not_sent[schedule.NO_CONNECTION] += 1
                    continue
                self.started += 1
                self.books.samples.append(await self._send(conn, offset, due, loop.time() - due))
            finally:
                self.queue.task_done()

    async def _send(self, conn: Connection, offset: float, due: float, wait: float) -> SentRequest:
        loop = asyncio.get_running_loop()
        try:
            status, body = await asyncio.wait_for(conn.get(self.load.target.path), self.load.timeout)
        except asyncio.CancelledError:
            conn.close()
            self.books.samples.append(SentRequest(offset, None, "cancelled", "", wait))
            self.errors += 1
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is an outcome of the request
            conn.close()
            self.errors += 1
            return SentRequest(offset, None, schedule.error_kind(exc), "", wait)
        outcome = schedule.outcome_of_status(status)
        self.answered += 1
        self.errors += schedule.is_error(outcome)
        return SentRequest(offset, loop.time() - due, outcome, node_of(body), wait)

    async def _report_counts(self) -> None:
        while True:
            self._publish()
            await asyncio.sleep(0.5)

    def _publish(self) -> None:
        if self.counters is not None:
            b = self.base
            self.counters[b:b + COUNTERS] = [self.books.arrivals, self.started, self.answered, self.errors]


async def _watch(worker: Worker, stop, parent: int) -> None:
    """Stop on the parent's word, or when the parent is gone (killed: nobody would read the books)."""
    while not stop.is_set() and os.getppid() == parent:
        await asyncio.sleep(0.1)
    worker.stopping.set()


async def _main(load: Load, start_wall: float, stop, counters, index: int, parent: int) -> Books:
    start = time.monotonic() + (start_wall - time.time())
    worker = Worker(load, start, counters, index)
    watcher = asyncio.create_task(_watch(worker, stop, parent))
    try:
        return await worker.run()
    finally:
        watcher.cancel()


def _exit_when_orphaned(parent: int) -> None:
    """A killed parent reads nothing: leave at once rather than block on a full results pipe."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _child(load: Load, index: int, ready, go, start_value, stop, counters, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the parent relays Ctrl-C through ``stop``
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    ready.put(index)
    go.wait()
    try:
        books = asyncio.run(_main(load, start_value.value, stop, counters, index, parent))
        results.put((index, books, None))
    except Exception as exc:  # noqa: BLE001 - reported by the parent as one line
        results.put((index, Books(), f"{type(exc).__name__}: {exc}"))


@dataclass
class Run:
    """The merged books of every process and the window they covered."""
    books: Books
    started_at: float        # Unix time of offset 0
    elapsed: float           # s of schedule covered (the duration, or until Ctrl-C)
    interrupted: bool
    failures: list[str]


def run_load(load: Load, procs: int, progress=None, stop=None) -> Run:
    """Send ``load`` (its ``rate`` is the total) from ``procs`` processes.
    ``progress(elapsed, arrivals, sent, answered, errors)`` is called about once a second."""
    ctx = multiprocessing.get_context("spawn")
    stop = stop or ctx.Event()
    ready, go, results = ctx.Queue(), ctx.Event(), ctx.Queue()
    start_value, counters = ctx.Value("d", 0.0, lock=False), ctx.Array("q", procs * COUNTERS, lock=False)
    seeds = schedule.process_seeds(load.seed, procs)
    children = [ctx.Process(target=_child, daemon=True, name=f"bench-{i}",
                            args=(Load(load.target, load.rate / procs, load.duration, load.connections,
                                       load.timeout, load.max_lag, seeds[i]),
                                  i, ready, go, start_value, stop, counters, results))
                for i in range(procs)]
    interrupted, stopped_at = False, None
    try:
        for child in children:
            child.start()
        for _ in children:
            _get(ready, children)
        start_value.value = time.time() + START_MARGIN
        go.set()
        collected = _collect(results, children, counters, start_value.value, progress)
    except KeyboardInterrupt:
        interrupted, stopped_at = True, time.time()
        stop.set()
        go.set()
        collected = _collect(results, children, counters, start_value.value or time.time(), None)
    finally:
        for child in (c for c in children if c.pid is not None):
            child.join(timeout=5)
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)
    if stop.is_set() and stopped_at is None:
        interrupted, stopped_at = True, time.time()
    books = Books()
    for _, b, _ in sorted(collected, key=lambda r: r[0]):
        books = books.merge(b)
    start = start_value.value
    elapsed = load.duration if not interrupted else min(load.duration, max(0.0, stopped_at - start))
    return Run(books, start, elapsed, interrupted, [f"process {i}: {e}" for i, _, e in collected if e])


def _get(q, children, timeout: float = 30.0):
    """The next item of ``q``; RuntimeError if every child died first or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return q.get(timeout=0.2)
        except queue_module.Empty:
            if not any(c.is_alive() for c in children) or time.monotonic() > deadline:
                raise RuntimeError("the bench's worker processes did not start") from None


def _collect(results, children, counters, start_wall: float, progress) -> list:
    collected: list[tuple[int, Books, str | None]] = []
    next_tick = time.monotonic() + 1.0
    while len(collected) < len(children):
        try:
            collected.append(results.get(timeout=0.2))
        except queue_module.Empty:
            if not any(c.is_alive() for c in children) and results.empty():
                missing = set(range(len(children))) - {i for i, _, _ in collected}
                collected += [(i, Books(), "exited without a result") for i in sorted(missing)]
        if progress is not None and time.monotonic() >= next_tick:
            next_tick += 1.0
            totals = [sum(counters[i * COUNTERS + k] for i in range(len(children))) for k in range(COUNTERS)]
            progress(max(0.0, time.time() - start_wall), *totals)
    return collected
