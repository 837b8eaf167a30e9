"""The metrics' parsers and window arithmetic (core/metrics.py) and the
sampler (control/sampler.py) on recorded readings, with a fake clock.

HAProxy, the hosts and etcd are stand-ins here (pure unit tests);
tests/integration/test_metrics.py reads a real HAProxy and a real dockerd.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from orchestrator.control.sampler import Sampler
from orchestrator.core.haproxy_stats import (BackendStats, ParseError, counter_increase, parse_log_line,
                                             parse_stat_csv)
from orchestrator.core.readings import LatencyWindow, Reading, cpu_percent, percentile, summarize
from orchestrator.core.model import App, Pod
from orchestrator.edges.haproxy import HAProxyError
from orchestrator.edges.haproxy_log import LogReceiver

DATA = Path(__file__).parent / "data"
HEADER = "# pxname,svname,qcur,qmax,scur,smax,status,req_tot,check_desc"


# ------------------------------------------------------------ show stat
def test_parse_recorded_show_stat_of_haproxy_2_6():
    """Recorded from HAProxy 2.6.12: w1 UP, w2 DRAIN, w3 MAINT, w4 DOWN; 5 requests."""
    stats = parse_stat_csv((DATA / "haproxy_2.6_show_stat.csv").read_text())
    assert stats == {"app_web": BackendStats(req_tot=5, scur=0, qcur=0, up=("w1.0123456789",)),
                     "app_empty": BackendStats(req_tot=0, scur=0, qcur=0, up=())}


def test_parse_show_stat_by_header_names_with_quoted_fields():
    text = "\n".join([
        HEADER,
        'app_a,n1.aaaaaaaaaa,1,1,3,4,UP,40,"HTTP status check returned code <503>, then ok"',
        "app_a,n2.bbbbbbbbbb,0,0,0,1,UP 1/2,12,",       # going down, still takes requests
        "app_a,n3.cccccccccc,0,0,0,0,DOWN 1/2,0,",      # going up, not yet
        "app_a,n4.dddddddddd,0,0,0,0,no check,0,",
        "app_a,BACKEND,2,2,3,5,UP,52,",
        "stats,FRONTEND,,,0,1,OPEN,7,",
        "", ""])
    assert parse_stat_csv(text) == {"app_a": BackendStats(
        req_tot=52, scur=3, qcur=2, up=("n1.aaaaaaaaaa", "n2.bbbbbbbbbb", "n4.dddddddddd"))}
    assert parse_stat_csv(text)["app_a"].inflight == 5


@pytest.mark.parametrize("text", ["", "Unknown command\n", "# pxname,svname,status\napp_a,BACKEND,UP\n",
                                  HEADER + "\napp_a,BACKEND,x,0,0,0,UP,1,\n",
                                  HEADER + "\napp_a,BACKEND,0\n"])
def test_parse_show_stat_refuses_what_it_cannot_read(text):
    with pytest.raises(ParseError):
        parse_stat_csv(text)


@pytest.mark.parametrize("values, increase", [
    ([10, 15, 15, 30], 20),
    ([100, 120, 5, 25], 45),          # reload after 120: the new worker counted 5, then 20
    ([7, 0], 0),                      # reload, nothing counted since: 0, not -7
    ([3, None, 9, 12], 3),            # an unread sample breaks the chain, never guesses
    ([5], None), ([], None), ([None, 4], None),
])
def test_counter_increase_handles_resets(values, increase):
    assert counter_increase(values) == increase


# ------------------------------------------------------------ request log
def test_parse_log_line():
    assert parse_log_line("app_light 12 200 0\n") == parse_log_line("app_light +12 200 0")
    record = parse_log_line("app_light 12 503 -1")
    assert (record.backend, record.ta_ms, record.status, record.tw_ms) == ("app_light", 12, 503, -1)
    for bad in ("", "app_light 12 200", "app_light x 200 0", "<134>Nov 23 app_light 1 200 0"):
        with pytest.raises(ParseError):
            parse_log_line(bad)


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
    for i in range(500):
        window.add("app_a", 100.0, 30)
    assert window.p95("app_a", since=0.0)[1] == 100  # the newest 100 only
    window.prune(1000.0)
    assert window._records == {}


def test_log_receiver_keeps_app_lines_and_counts_bad_ones():
    window = LatencyWindow()
    receiver = LogReceiver(window, port=0, clock=lambda: 7.0)   # not started: no socket
    for line in ("app_web 30 200 0\n", "no_app 0 404 -1\n", "garbage\n", "app_web 50 200 2\n"):
        receiver.take(line)
    assert (receiver.received, receiver.rejected) == (2, 1)
    assert window.p95("app_web", since=7.0) == (50.0, 2)


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


# ------------------------------------------------------------ the sampler
class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class ScriptedHAProxy:
    """``backend_stats`` answers what the test set last (an exception is raised)."""

    def __init__(self):
        self.answer: dict | Exception = {}

    def backend_stats(self):
        if isinstance(self.answer, Exception):
            raise self.answer
        return dict(self.answer)


class Apps:
    def __init__(self, apps, pods):
        self.apps, self.pods = apps, pods

    def list_apps(self):
        return list(self.apps)

    def list_pods(self):
        return list(self.pods)


class CpuHost:
    """A pod host whose containers have used ``used[id]`` ns of CPU; ``gate``
    (if set) makes a read wait for it, like a host that stopped answering."""

    def __init__(self):
        self.used: dict[str, int] = {}
        self.calls: list[list[str]] = []
        self.gate: threading.Event | None = None
        self.returned = threading.Event()

    def cpu_usage(self, ids, timeout=None):
        self.calls.append(list(ids))
        if self.gate is not None:
            self.gate.wait(30)
        self.returned.set()
        return {i: self.used[i] for i in ids if i in self.used}


WEB = App(name="web", pod="light", port=8000, image="img", created=0.0)
HEAVY = App(name="big", pod="heavy", port=8000, image="img", created=0.0, cpus=0.5)
PODS = [Pod("light", "pod-light", 20, 0.25, 128), Pod("heavy", "pod-heavy", 10, 1.0, 512)]


@pytest.fixture
def rig():
    clock, haproxy = Clock(), ScriptedHAProxy()
    hosts = {"pod-light": CpuHost(), "pod-heavy": CpuHost()}
    sampler = Sampler(Apps([WEB, HEAVY], PODS), haproxy, hosts,
                      2.0, clock=clock)
    yield clock, haproxy, hosts, sampler
    for host in hosts.values():
        if host.gate is not None:
            host.gate.set()
    sampler.close()


def web(req_tot, scur=0, qcur=0, up=("web-1.aaaaaaaaaa", "web-2.bbbbbbbbbb")):
    return BackendStats(req_tot=req_tot, scur=scur, qcur=qcur, up=tuple(up))


def test_window_rates_means_and_counts(rig):
    clock, haproxy, hosts, sampler = rig
    light = hosts["pod-light"]
    for step, (req, scur, qcur) in enumerate([(0, 0, 0), (20, 2, 0), (40, 3, 1), (60, 1, 1)]):
        clock.t = 1000.0 + 2 * step
        haproxy.answer = {"app_web": web(req, scur, qcur)}
        # web-1 busy at its whole limit (0.25 CPU), web-2 idle
        light.used = {"aaaaaaaaaa": int(step * 2 * 0.25e9), "bbbbbbbbbb": 0}
        sampler.sample()
    for t in (1003.0, 1004.0, 1005.0):
        sampler.latency.add("app_web", t, 10)
    sampler.latency.add("app_web", 1006.0, 400)
    sample = sampler.window("web", seconds=6.0, desired=3)
    assert sample.time == 1006.0
    assert sample.requests == 60 and sample.rps == pytest.approx(10.0)
    assert sample.inflight == pytest.approx((0 + 2 + 4 + 2) / 4)
    assert sample.cpu == pytest.approx(50.0)          # mean of 100 % and 0 %
    assert sample.p95_ms == 400.0
    assert (sample.serving, sample.starting) == (2, 1)
    recent = sampler.window("web", seconds=2.0, desired=1)
    assert recent.requests == 20 and recent.rps == pytest.approx(10.0)
    assert recent.p95_ms == 400.0 and recent.starting == 0
    assert sampler.figures(seconds=6.0)["web"] == {
        "rps": pytest.approx(10.0), "requests": 60, "inflight": pytest.approx(2.0),
        "cpu": pytest.approx(50.0), "p95_ms": 400.0, "logged": 4, "serving": 2, "time": 1006.0}


def test_cpu_is_per_node_limit_and_read_once_per_host(rig):
    clock, haproxy, hosts, sampler = rig
    haproxy.answer = {"app_web": web(0, up=("web-1.aaaaaaaaaa",)),
                      "app_big": web(0, up=("big-1.cccccccccc",)),
                      "app_gone": web(0, up=("x-1.dddddddddd",))}   # no app: not read
    hosts["pod-light"].used = {"aaaaaaaaaa": 0}
    hosts["pod-heavy"].used = {"cccccccccc": 0}
    first = sampler.sample()
    assert first.cpu == {}                                 # one reading: no rate yet
    clock.t += 2.0
    hosts["pod-light"].used = {"aaaaaaaaaa": 250_000_000}  # 0.125 CPU of 0.25
    hosts["pod-heavy"].used = {"cccccccccc": 500_000_000}  # 0.25 CPU of the app's own 0.5
    second = sampler.sample()
    assert second.cpu == {"app_web": pytest.approx(50.0), "app_big": pytest.approx(50.0)}
    assert hosts["pod-light"].calls == [["aaaaaaaaaa"], ["aaaaaaaaaa"]]
    assert hosts["pod-heavy"].calls == [["cccccccccc"], ["cccccccccc"]]


def test_a_counter_reset_gives_no_negative_or_huge_rate(rig):
    clock, haproxy, hosts, sampler = rig
    for step, req in enumerate([5000, 5020, 10, 30]):     # HAProxy reloaded after 5020
        clock.t = 1000.0 + 2 * step
        haproxy.answer = {"app_web": web(req)}
        sampler.sample()
    sample = sampler.window("web", seconds=6.0, desired=2)
    assert sample.requests == 20 + 10 + 20
    assert sample.rps == pytest.approx(50 / 6.0)


def test_unknown_is_none_never_zero(rig):
    clock, haproxy, hosts, sampler = rig
    assert sampler.window("web", seconds=10.0, desired=1) is None      # nothing read yet
    haproxy.answer = HAProxyError("HAProxy admin socket does not answer")
    sampler.sample()
    assert sampler.window("web", seconds=10.0, desired=1) is None
    clock.t += 2.0
    haproxy.answer = {"app_web": web(10)}
    hosts["pod-light"].used = {}                           # cgroups not found
    sampler.sample()
    sample = sampler.window("web", seconds=10.0, desired=1)
    assert (sample.requests, sample.rps, sample.cpu, sample.p95_ms) == (None, None, None, None)
    assert sample.inflight == 0.0 and sample.serving == 2
    clock.t += 2.0
    haproxy.answer = HAProxyError("HAProxy admin socket does not answer")
    sampler.sample()
    clock.t += 2.0
    haproxy.answer = {"app_web": web(16)}
    sampler.sample()
    assert sampler.window("web", seconds=10.0, desired=1).requests == 6


def test_history_is_bounded(rig):
    clock, haproxy, hosts, sampler = rig
    haproxy.answer = {"app_web": web(0)}
    for _ in range(200):
        clock.t += 2.0
        sampler.sample()
    times = [r.time for r in sampler.readings()]
    assert len(times) == 61 and times[0] == clock.t - 120.0


def test_a_host_that_hangs_holds_up_neither_the_others_nor_the_sampler(rig):
    clock, haproxy, hosts, sampler = rig
    sampler.host_timeout = 0.2
    light, heavy = hosts["pod-light"], hosts["pod-heavy"]
    haproxy.answer = {"app_web": web(0, up=("web-1.aaaaaaaaaa",)),
                      "app_big": web(0, up=("big-1.cccccccccc",))}
    light.used, heavy.used = {"aaaaaaaaaa": 0}, {"cccccccccc": 0}
    sampler.sample()
    heavy.gate, heavy.returned = threading.Event(), threading.Event()   # pod-heavy hangs
    for _ in range(2):
        clock.t += 2.0
        light.used = {"aaaaaaaaaa": light.used["aaaaaaaaaa"] + 250_000_000}
        reading = sampler.sample()
        assert not heavy.returned.is_set()              # sample() came back while it hangs
        assert reading.cpu == {"app_web": pytest.approx(50.0)}
    assert len(heavy.calls) == 2                         # the hung read is not asked again
    assert len(light.calls) == 3


def test_the_waker_never_counts_as_a_serving_node():
    from orchestrator.core.haproxy_stats import parse_stat_csv
    text = ("# pxname,svname,qcur,scur,status,req_tot\n"
            "app_web,waker,0,1,no check,\n"
            "app_web,n1.abcdef0123,0,0,UP,\n"
            "app_web,BACKEND,0,1,UP,7\n")
    assert parse_stat_csv(text)["app_web"].up == ("n1.abcdef0123",)
