"""The load generator's pure schedule (loadgen/schedule.py): Poisson arrivals, outcome kinds, the books."""
from __future__ import annotations

import asyncio
import math
import socket
import statistics
from collections import Counter

import pytest

from orchestrator.loadgen import schedule


def test_arrivals_are_a_poisson_process_of_the_rate():
    rate, duration = 200.0, 100.0
    times = list(schedule.arrivals(rate, duration, seed=42))
    n = len(times)
    # count: Poisson(20000), sd 141; 4 sd either side
    assert abs(n - rate * duration) < 4 * math.sqrt(rate * duration)
    assert times == sorted(times) and 0 <= times[0] and times[-1] < duration
    gaps = [b - a for a, b in zip(times, times[1:])]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(1 / rate, rel=0.03)
    # exponential gaps: standard deviation = mean (coefficient of variation 1)
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, rel=0.05)
    # memoryless: P(gap > mean) = 1/e
    assert sum(g > 1 / rate for g in gaps) / len(gaps) == pytest.approx(math.exp(-1), abs=0.02)
    # counts per second: Poisson, so variance ≈ mean (index of dispersion 1)
    per_second = Counter(int(t) for t in times)
    counts = [per_second.get(s, 0) for s in range(int(duration))]
    assert statistics.pvariance(counts) / statistics.fmean(counts) == pytest.approx(1.0, abs=0.35)


def test_a_seed_fixes_the_schedule_and_processes_get_different_ones():
    assert list(schedule.arrivals(50, 2, seed=7)) == list(schedule.arrivals(50, 2, seed=7))
    assert list(schedule.arrivals(50, 2, seed=7)) != list(schedule.arrivals(50, 2, seed=8))
    seeds = schedule.process_seeds(7, 4)
    assert len(set(seeds)) == 4 and seeds == schedule.process_seeds(7, 4)
    assert schedule.process_seeds(None, 3) == [None, None, None]


def test_processes_at_rate_over_n_add_up_to_the_rate():
    seeds = schedule.process_seeds(3, 4)
    merged = sorted(t for s in seeds for t in schedule.arrivals(400 / 4, 20, seed=s))
    assert abs(len(merged) - 8000) < 4 * math.sqrt(8000)
    gaps = [b - a for a, b in zip(merged, merged[1:])]
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, rel=0.05)


def test_no_arrival_outside_the_duration():
    assert list(schedule.arrivals(0.001, 1.0, seed=1)) == []     # first gap ~ 1000 s


@pytest.mark.parametrize("exc, kind", [
    (ConnectionRefusedError(111, "refused"), "connect refused"),
    (ConnectionResetError(104, "reset"), "reset"),
    (BrokenPipeError(32, "pipe"), "broken pipe"),
    (TimeoutError(), "timeout"),
    (TimeoutError(), "timeout"),
    (asyncio.IncompleteReadError(b"HTTP/1.1 2", 100), "closed early"),
    (schedule.ProtocolError("junk"), "bad response"),
    (socket.gaierror(-2, "Name or service not known"), "name lookup"),
    (OSError(113, "No route to host"), "os ehostunreach"),
    (RuntimeError("x"), "RuntimeError"),
])
def test_error_kinds(exc, kind):
    assert schedule.error_kind(exc) == kind


def test_5xx_and_transport_failures_are_errors_other_statuses_answers():
    assert [schedule.is_error(o) for o in ("200", "404", "429", "500", "503", "timeout")] == [
        False, False, False, True, True, True]
    assert schedule.error_label("503") == "http 503" and schedule.error_label("reset") == "reset"
