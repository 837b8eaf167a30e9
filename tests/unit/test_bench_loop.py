"""`cloud bench`'s loop and client without a network: HTTP/1.1 answers read
from a fed StreamReader, the worker's books with a fake connection (late
arrivals, busy connections, Ctrl-C), and the balance comparison against a
fake API (the original balance comes back whatever happens)."""
from __future__ import annotations

import asyncio
import time

import pytest

from orchestrator.loadgen import balance, cluster, generator, schedule
from orchestrator.loadgen.http1 import parse_head, read_chunked
from orchestrator.loadgen.generator import Load, Target, Worker, node_of


# --- HTTP/1.1 -----------------------------------------------------------------------

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


# --- the worker's books -----------------------------------------------------------------

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


# --- the balance comparison ----------------------------------------------------------------

class FakeAPI:
    """An app 'web' whose balance changes take effect with a reload event."""

    def __init__(self, fail_reload_to: str | None = None):
        self.balance, self.events, self.calls = "roundrobin", [], []
        self.fail_reload_to = fail_reload_to

    def call(self, method, path, body=None, params=None):
        self.calls.append((method, path, body))
        if method == "GET" and path == "/api/apps":
            return [{"name": "web", "path": "/web", "balance": self.balance},
                    {"name": "api", "host": "api.test", "balance": "first"}]
        if method == "GET" and path == "/api/events":
            return list(reversed(self.events))
        if method == "PATCH":
            old, new = self.balance, body["balance"]
            if old == new:
                return {"changed": []}
            self.balance = new
            if new == self.fail_reload_to:
                self.events.append({"time": len(self.events), "kind": "controller.error", "subject": "haproxy",
                                    "message": f"reload HAProxy config (app web: balance {old} → {new}) failed"})
            else:
                self.events.append({"time": len(self.events), "kind": "controller.reload_config",
                                    "subject": "haproxy",
                                    "message": f"reload HAProxy config: app web: balance {old} → {new}"})
            return {"changed": ["balance"]}
        raise AssertionError(f"unexpected call {method} {path}")


def test_find_app_by_route():
    api = FakeAPI()
    assert cluster.find_app(api, "/web/x", None)["name"] == "web"
    assert cluster.find_app(api, "/", "api.test")["name"] == "api"
    assert cluster.find_app(api, None, None, "api")["name"] == "api"
    with pytest.raises(cluster.BenchError, match="no app serves /other"):
        cluster.find_app(api, "/other", None)
    with pytest.raises(cluster.BenchError, match="no app named"):
        cluster.find_app(api, None, None, "nope")


def test_compare_runs_each_algorithm_and_restores_the_balance():
    api, seen = FakeAPI(), []

    def measure(algo):
        seen.append((algo, api.balance))
        return {"interrupted": False}
    summaries, interrupted, warnings = balance.compare(api, "web", "roundrobin", ["leastconn", "source"],
                                                       measure, lambda _: None, reload_timeout=1)
    assert seen == [("leastconn", "leastconn"), ("source", "source")]
    assert list(summaries) == ["leastconn", "source"] and not interrupted and not warnings
    assert api.balance == "roundrobin"


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), RuntimeError("boom")])
def test_the_balance_is_restored_after_ctrl_c_or_a_failure(failure):
    api = FakeAPI()

    def measure(algo):
        raise failure
    if isinstance(failure, KeyboardInterrupt):
        summaries, interrupted, _ = balance.compare(api, "web", "roundrobin", ["leastconn", "source"],
                                                    measure, lambda _: None, reload_timeout=1)
        assert interrupted and summaries == {}
    else:
        with pytest.raises(RuntimeError):
            balance.compare(api, "web", "roundrobin", ["leastconn", "source"], measure, lambda _: None, 1)
    assert api.balance == "roundrobin"


def test_a_failed_reload_is_reported_not_waited_out():
    api = FakeAPI(fail_reload_to="source")
    with pytest.raises(cluster.BenchError, match="HAProxy did not take balance source"):
        cluster.set_balance(api, "web", "source", timeout=30)
    assert cluster.set_balance(api, "web", "source", timeout=1) is False       # already set: nothing to wait for


def test_the_serving_poller_records_points_and_survives_failures():
    class Flaky:
        calls = 0

        def call(self, method, path, body=None, params=None):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("API down")
            return {"name": "web", "serving": self.calls}
    with cluster.ServingPoller(Flaky(), "web", interval=0.01) as poller:
        deadline = time.monotonic() + 30
        while len(poller.points) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert poller.failures == 1 and [n for _, n in poller.points[:2]] == [1, 3]
