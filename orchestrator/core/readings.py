"""The arithmetic of the sampler's readings (pure: no clock, no sockets).

Where the figures come from (control/sampler.py reads them; core/haproxy_stats.py
parses HAProxy's answers):

* **HAProxy's counters**: one ``show stat`` per reading gives each backend's
  :class:`~orchestrator.core.haproxy_stats.BackendStats`;
* **HAProxy's timers**: one log line per request; :class:`LatencyWindow`
  keeps the recent response times and answers p95;
* **CPU time of each container** from its cgroup, read over the host link:
  :func:`cpu_percent` turns two readings into % of the node's CPU limit.

:class:`Reading` is one sample of all of it; :func:`summarize` averages the
readings of a window into the ``autoscale.Sample`` the decision reads, and
:func:`series` cuts the kept readings into fixed buckets for the dashboard's
sparklines.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.autoscale import Sample
from orchestrator.core.haproxy_stats import BackendStats, counter_increase


# ------------------------------------------------------------ response times
def percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q ≤ 100); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[rank - 1])


class LatencyWindow:
    """The response times of recent requests, per backend, bounded.

    ``add`` is called by the log receiver's thread, ``p95`` by the sampler's
    readers, hence the lock. Records older than ``history`` seconds are
    dropped, at most ``max_per_backend`` of the newest are kept per backend
    (a flood cannot grow memory; p95 is then that of the newest), and at most
    ``max_backends`` backends (made-up names cannot either)."""

    def __init__(self, history: float = 120.0, max_per_backend: int = 20_000, max_backends: int = 1000):
        self.history = history
        self.max_per_backend = max_per_backend
        self.max_backends = max_backends
        self._records: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def add(self, backend: str, time: float, ms: int) -> bool:
        """Keep one request's time; False if ``backend`` would be one too many."""
        with self._lock:
            records = self._records.get(backend)
            if records is None:
                if len(self._records) >= self.max_backends:
                    return False
                records = self._records[backend] = deque(maxlen=self.max_per_backend)
            records.append((time, ms))
            self._drop_older(records, time - self.history)
            return True

    def p95(self, backend: str, since: float) -> tuple[float | None, int]:
        """(p95 in ms, number of requests) of the requests logged at or after
        ``since``; (None, 0) if there were none."""
        with self._lock:
            values = [ms for t, ms in self._records.get(backend, ()) if t >= since]
        return percentile(values, 95), len(values)

    def records(self, backend: str, since: float) -> list[tuple[float, int]]:
        """The (time, ms) of the requests logged at or after ``since``, oldest first."""
        with self._lock:
            return [(t, ms) for t, ms in self._records.get(backend, ()) if t >= since]

    def prune(self, now: float) -> None:
        """Forget what is older than the history (and backends left empty)."""
        with self._lock:
            for backend, records in list(self._records.items()):
                self._drop_older(records, now - self.history)
                if not records:
                    del self._records[backend]

    @staticmethod
    def _drop_older(records: deque[tuple[float, int]], limit: float) -> None:
        while records and records[0][0] < limit:
            records.popleft()





# ------------------------------------------------------------ CPU
def cpu_percent(before: tuple[float, int], after: tuple[float, int], cpus: float) -> float | None:
    """% of a node's CPU limit (``cpus``; 100 = the whole limit) used between
    two (time s, CPU time ns) readings of its container; None if they cannot
    be compared (no time between them, no limit, or the counter went back)."""
    elapsed = after[0] - before[0]
    used = after[1] - before[1]
    if elapsed <= 0 or cpus <= 0 or used < 0:
        return None
    return used / (elapsed * 1e9 * cpus) * 100.0


# ------------------------------------------------------------ readings and windows
@dataclass(frozen=True)
class Reading:
    """One sample of everything: when, HAProxy's backends (None: HAProxy did
    not answer), and per backend the mean CPU % of its serving nodes that
    could be read (a backend is absent when none could)."""

    time: float
    backends: dict[str, BackendStats] | None
    cpu: dict[str, float] = field(default_factory=dict)
    hosts: dict[str, float] = field(default_factory=dict)   # CPUs used by the serving workers of each host


def in_window(readings: Sequence[Reading], now: float, seconds: float) -> list[Reading]:
    """The readings taken in the last ``seconds`` before ``now`` (inclusive)."""
    return [r for r in readings if now - seconds <= r.time <= now]


def summarize(readings: Sequence[Reading], backend: str, *, now: float, desired: int,
              p95_ms: float | None) -> Sample | None:
    """The ``Sample`` of one backend over ``readings`` (those of the window,
    oldest first): rps and requests from the increase of the arrivals
    counter (``stot``) between the first and last reading that have the
    backend, inflight and cpu as means, the queue's length in the newest,
    its growth since the oldest and its least, serving = its servers UP in the newest,
    starting = what ``desired`` asks beyond that. None if no reading has the
    backend."""
    seen = [(r.time, r.backends[backend]) for r in readings
            if r.backends is not None and backend in r.backends]
    if not seen:
        return None
    requests = counter_increase([s.stot for _, s in seen], [s.worker for _, s in seen])
    elapsed = seen[-1][0] - seen[0][0]
    rps = requests / elapsed if requests is not None and elapsed > 0 else None
    cpus = [r.cpu[backend] for r in readings if backend in r.cpu]
    serving = len(seen[-1][1].up)
    return Sample(time=now, serving=serving, starting=max(0, desired - serving),
                  requests=requests, rps=rps,
                  inflight=sum(s.inflight for _, s in seen) / len(seen),
                  cpu=sum(cpus) / len(cpus) if cpus else None,
                  p95_ms=p95_ms, queued=seen[-1][1].qcur, queue_growth=seen[-1][1].qcur - seen[0][1].qcur,
                  queue_least=min(s.qcur for _, s in seen))


def series(readings: Sequence[Reading], latencies: Sequence[tuple[float, int]], backend: str, *,
           now: float, seconds: float, step: float) -> list[dict[str, Any]]:
    """One backend over the last ``seconds`` in buckets of ``step`` seconds,
    oldest first, for a sparkline: ``{t, rps, p95_ms, serving, inflight}``.

    Buckets are aligned on multiples of ``step`` (bucket k holds the times in
    ``(k·step, (k+1)·step]``), so a point does not change from one poll to
    the next; ``t`` is how many seconds before ``now`` the bucket ends (0 or
    less than ``step`` for the newest, which is still filling). ``rps``: the
    arrivals counter's increase from the last reading before the bucket to the last
    one in it, over the time between them (resets as in
    :func:`counter_increase`); ``p95_ms``: of the requests logged in the
    bucket (``latencies``: (time, ms), any order); ``serving``: servers UP in
    its last reading; ``inflight``: mean of its readings. Unknown is None
    (no reading in the bucket, or none before it for ``rps``; no request
    logged for ``p95_ms``), never 0."""
    if step <= 0 or seconds <= 0:
        raise ValueError("series needs a positive step and window")
    last = math.ceil(now / step - 1e-9)            # the bucket that holds ``now``
    first = last - max(1, round(seconds / step)) + 1
    seen = [(r.time, r.backends[backend]) for r in readings
            if r.backends is not None and backend in r.backends and r.time <= now]
    seen.sort(key=lambda item: item[0])
    by_bucket: dict[int, list[int]] = {}
    for i, (t, _) in enumerate(seen):
        by_bucket.setdefault(math.ceil(t / step - 1e-9), []).append(i)
    times: dict[int, list[float]] = {}
    for t, ms in latencies:
        if t <= now:
            times.setdefault(math.ceil(t / step - 1e-9), []).append(ms)
    points = []
    for k in range(first, last + 1):
        mine = by_bucket.get(k, [])
        point = {"t": round(now - k * step, 3) if k < last else 0.0,
                 "rps": None, "p95_ms": percentile(times.get(k, ()), 95),
                 "serving": None, "inflight": None}
        if mine:
            stats = [seen[i][1] for i in mine]
            point["serving"] = len(stats[-1].up)
            point["inflight"] = sum(s.inflight for s in stats) / len(stats)
            if mine[0] > 0:                        # the last reading before the bucket
                span = [seen[mine[0] - 1]] + [seen[i] for i in mine]
                requests = counter_increase([s.stot for _, s in span], [s.worker for _, s in span])
                elapsed = span[-1][0] - span[0][0]
                if requests is not None and elapsed > 0:
                    point["rps"] = requests / elapsed
        points.append(point)
    return points
