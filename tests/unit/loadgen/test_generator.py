"""One worker's loop (loadgen/generator.py) with a fake connection: late, no connection, errors, stop."""
from __future__ import annotations

import asyncio
import time

from orchestrator.loadgen import generator, schedule
from orchestrator.loadgen.generator import Load, Target, Worker


class FakeConnection:
    """Answers every GET after ``delay`` s (or raises ``error``)."""
    delay, error = 0.0, None

    def __init__(self, *args):
        pass

    async def get(self, path):
        await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return 200, b'{"node": "n1"}'

    def close(self):
        pass


TARGET = Target.of("http://127.0.0.1:9", "/x", None)


def run_worker(monkeypatch, load: Load, start_offset: float = 0.0, stop_after: float | None = None,
               delay: float = 0.0, error=None):
    monkeypatch.setattr(generator, "Connection", type("C", (FakeConnection,), {"delay": delay, "error": error}))

    async def main():
        worker = Worker(load, time.monotonic() + start_offset)
        if stop_after is not None:
            asyncio.get_running_loop().call_later(stop_after, worker.stopping.set)
        return await worker.run()
    return asyncio.run(main())


def test_every_arrival_is_sent_when_the_generator_keeps_up(monkeypatch):
    books = run_worker(monkeypatch, Load(TARGET, rate=200, duration=0.5, connections=4, seed=1))
    assert books.arrivals == len(list(schedule.arrivals(200, 0.5, seed=1)))
    assert books.sent == books.arrivals and not books.not_sent and books.balanced()
    assert all(s.outcome == "200" and s.node == "n1" and s.latency >= 0 for s in books.samples)


def test_arrivals_already_past_are_late_not_sent(monkeypatch):
    # the schedule started 2 s ago: everything before the last max_lag is late
    books = run_worker(monkeypatch, Load(TARGET, rate=100, duration=2.5, connections=4, max_lag=0.25, seed=2),
                       start_offset=-2.0)
    expected = list(schedule.arrivals(100, 2.5, seed=2))
    assert books.arrivals == len(expected) and books.balanced()
    assert books.not_sent[schedule.LATE] >= sum(t < 1.75 for t in expected)
    assert books.sent + books.not_sent[schedule.LATE] == books.arrivals


def test_a_busy_connection_makes_arrivals_expire_as_no_connection(monkeypatch):
    # one connection, answers take 0.2 s, 50/s offered: the queue outgrows the 0.3 s timeout
    books = run_worker(monkeypatch, Load(TARGET, rate=50, duration=1.0, connections=1, timeout=0.3, seed=3),
                       delay=0.2)
    assert books.balanced() and books.not_sent[schedule.NO_CONNECTION] > 0
    assert books.sent + books.not_sent[schedule.NO_CONNECTION] == books.arrivals


def test_errors_are_outcomes_of_sent_requests(monkeypatch):
    books = run_worker(monkeypatch, Load(TARGET, rate=100, duration=0.3, connections=2, seed=4),
                       error=ConnectionRefusedError(111, "refused"))
    assert books.sent == books.arrivals > 0
    assert {s.outcome for s in books.samples} == {"connect refused"}
    assert all(s.latency is None for s in books.samples)


def test_stop_ends_the_schedule_and_keeps_the_books(monkeypatch):
    books = run_worker(monkeypatch, Load(TARGET, rate=100, duration=30, connections=2, seed=5),
                       stop_after=0.5, delay=0.01)
    assert books.balanced() and 0 < books.arrivals < len(list(schedule.arrivals(100, 30, seed=5)))
