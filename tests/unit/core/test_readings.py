"""The sampler's arithmetic (core/readings.py): percentiles, the latency window, CPU %, a window's Sample, and the
dashboard's sparkline series on recorded readings."""
from __future__ import annotations

import pytest

from orchestrator.core.haproxy_stats import (
    BackendStats,
)
from orchestrator.core.readings import (
    LatencyWindow,
    Reading,
    cpu_percent,
    percentile,
    series,
    summarize,
)


def test_percentile_is_nearest_rank():
    assert percentile(range(1, 101), 95) == 95.0
    assert percentile([40], 95) == 40.0
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 1000], 95) == 19.0
    assert percentile([], 95) is None


def test_latency_window_answers_p95_since_and_stays_bounded():
    window = LatencyWindow(history=60.0, max_per_backend=100)
    for i in range(50):
        window.add("app_a", float(i), 10)           # t = 0..49, 10 ms
    window.add("app_a", 50.0, 500)
    assert window.p95("app_a", since=45.0) == (500.0, 6)
    assert window.p95("app_a", since=0.0) == (10.0, 51)
    assert window.p95("app_b", since=0.0) == (None, 0)
    window.add("app_a", 100.0, 20)                  # drops what is older than 40
    assert window.p95("app_a", since=0.0)[1] == 12
    for _ in range(500):
        window.add("app_a", 100.0, 30)
    assert window.p95("app_a", since=0.0)[1] == 100  # the newest 100 only
    window.prune(1000.0)
    assert window._records == {}


# ------------------------------------------------------------ CPU
def test_cpu_percent_of_the_node_limit():
    assert cpu_percent((0.0, 0), (2.0, 500_000_000), cpus=0.25) == pytest.approx(100.0)
    assert cpu_percent((0.0, 0), (2.0, 500_000_000), cpus=1.0) == pytest.approx(25.0)
    assert cpu_percent((2.0, 9), (2.0, 10), cpus=1.0) is None        # no time between
    assert cpu_percent((0.0, 10), (2.0, 9), cpus=1.0) is None        # counter went back
    assert cpu_percent((0.0, 0), (2.0, 10), cpus=0.0) is None        # no limit


def test_summarize_needs_the_backend_in_a_reading():
    readings = [Reading(0.0, None), Reading(2.0, {"app_x": BackendStats(1, 0, 0)})]
    assert summarize(readings, "app_web", now=2.0, desired=1, p95_ms=None) is None
    one = summarize(readings, "app_x", now=2.0, desired=1, p95_ms=None)
    assert (one.requests, one.rps, one.inflight, one.serving, one.starting) == (None, None, 0.0, 0, 1)


def stats(req_tot, scur=0, qcur=0, up=("w-1.aaaaaaaaaa",)):
    return BackendStats(req_tot=req_tot, scur=scur, qcur=qcur, up=tuple(up), stot=req_tot)


def readings(*points):
    """(time, req_tot[, scur]) → readings of backend app_web."""
    return [Reading(t, {"app_web": stats(req, *rest)}) for t, req, *rest in points]


def test_rates_come_from_successive_counters_in_aligned_buckets():
    # one reading every 2 s, 10 requests/s, then 25 requests/s
    got = series(readings((1000.5, 0), (1002.5, 20), (1004.5, 40), (1006.5, 90)), [], "app_web",
                 now=1007.0, seconds=10, step=2)
    assert [p["t"] for p in got] == [7.0, 5.0, 3.0, 1.0, 0.0]     # buckets end 1000, 1002 ... 1008
    assert [p["rps"] for p in got] == [None, None, pytest.approx(10.0), pytest.approx(10.0),
                                       pytest.approx(25.0)]
    assert got[1]["serving"] == 1 and got[0]["serving"] is None     # the first reading: no rate yet


def test_a_bucket_without_a_reading_is_unknown_and_the_next_rate_spans_the_gap():
    got = series(readings((1000.0, 0), (1004.0, 40)), [], "app_web", now=1004.0, seconds=6, step=2)
    assert [(p["rps"], p["serving"]) for p in got] == [(None, 1), (None, None),
                                                       (pytest.approx(10.0), 1)]


def test_several_readings_in_a_bucket_give_one_rate_and_a_mean_inflight():
    got = series(readings((999.0, 0, 0), (1000.5, 10, 2), (1001.5, 30, 4)), [], "app_web",
                 now=1002.0, seconds=2, step=2)
    assert len(got) == 1
    assert got[0]["rps"] == pytest.approx(30 / 2.5)
    assert got[0]["inflight"] == pytest.approx(3.0)


def test_a_counter_reset_never_gives_a_negative_rate():
    got = series(readings((1000.0, 500), (1002.0, 520), (1004.0, 6)), [], "app_web",
                 now=1004.0, seconds=4, step=2)
    assert [p["rps"] for p in got] == [pytest.approx(10.0), pytest.approx(3.0)]


def test_p95_per_bucket_from_the_logged_requests():
    latencies = [(1000.5, 10)] * 19 + [(1001.0, 900)] + [(1003.0, 50)]
    got = series(readings((1000.0, 0), (1002.0, 20), (1004.0, 21)), latencies, "app_web",
                 now=1004.0, seconds=6, step=2)
    assert [p["p95_ms"] for p in got] == [None, 10.0, 50.0]
    latencies.append((1001.2, 900))                       # now 2 of 21 are slow: p95 is slow
    assert series(readings((1000.0, 0)), latencies, "app_web", now=1004.0, seconds=6,
                  step=2)[1]["p95_ms"] == 900.0


def test_other_backends_readings_without_haproxy_and_the_future_are_skipped():
    rs = [Reading(1000.0, {"app_web": stats(0)}), Reading(1001.0, None),
          Reading(1002.0, {"app_other": stats(7)}), Reading(1003.0, {"app_web": stats(30)}),
          Reading(1009.0, {"app_web": stats(999)})]
    got = series(rs, [(1009.0, 5)], "app_web", now=1004.0, seconds=4, step=2)
    assert [p["rps"] for p in got] == [None, pytest.approx(10.0)]
    assert all(p["p95_ms"] is None for p in got)


@pytest.mark.parametrize("seconds, step", [(0, 2), (10, 0), (10, -1)])
def test_a_window_or_step_that_is_not_positive_is_refused(seconds, step):
    with pytest.raises(ValueError):
        series([], [], "app_web", now=1.0, seconds=seconds, step=step)
