"""The dashboard's sparkline series: ``core.readings.series`` on recorded
readings, and ``Sampler.series`` over a scripted HAProxy with a fake
clock (pure unit tests; no sockets)."""
from __future__ import annotations

import pytest

from orchestrator.control.sampler import Sampler
from orchestrator.core.haproxy_stats import BackendStats
from orchestrator.core.readings import Reading, series

from .test_metrics import Apps, Clock, ScriptedHAProxy


def stats(req_tot, scur=0, qcur=0, up=("w-1.aaaaaaaaaa",)):
    return BackendStats(req_tot=req_tot, scur=scur, qcur=qcur, up=tuple(up))


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


def test_the_sampler_gives_every_app_its_series_by_name():
    clock, haproxy = Clock(), ScriptedHAProxy()
    sampler = Sampler(Apps([], []), haproxy, {}, 2.0, clock=clock)
    try:
        for step, req in enumerate([0, 8, 16]):
            clock.t = 1000.0 + 2 * step
            haproxy.answer = {"app_web": stats(req, up=())}
            sampler.sample()
        sampler.latency.add("app_web", 1003.5, 40)
        got = sampler.series(seconds=6, step=2)
    finally:
        sampler.close()
    assert list(got) == ["web"]
    assert [(p["t"], p["rps"], p["p95_ms"], p["serving"]) for p in got["web"]] == [
        (4.0, None, None, 0), (2.0, pytest.approx(4.0), None, 0), (0.0, pytest.approx(4.0), 40.0, 0)]
