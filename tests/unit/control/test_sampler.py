"""The sampler (control/sampler.py) on scripted HAProxy answers and host CPU readings, with a fake clock.

HAProxy, the hosts and etcd are stand-ins here; tests/integration/test_metrics.py reads a real
HAProxy and a real dockerd."""
from __future__ import annotations

import threading

import pytest

from orchestrator.control.sampler import Sampler
from orchestrator.core.haproxy_stats import (
    BackendStats,
)
from orchestrator.core.model import App, Pod
from orchestrator.edges.haproxy import HAProxyError
from tests.unit.fakes import Clock


# ------------------------------------------------------------ the sampler
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


PODS = [Pod("light", ("pod-light",), 20, 0.25, 128), Pod("heavy", ("pod-heavy",), 10, 1.0, 512)]


@pytest.fixture
def rig():
    clock, haproxy = Clock(1000.0), ScriptedHAProxy()
    hosts = {"pod-light": CpuHost(), "pod-heavy": CpuHost()}
    sampler = Sampler(Apps([WEB, HEAVY], PODS), haproxy, hosts,
                      2.0, clock=clock)
    yield clock, haproxy, hosts, sampler
    for host in hosts.values():
        if host.gate is not None:
            host.gate.set()
    sampler.close()


def web(req_tot, scur=0, qcur=0, up=("web-1.aaaaaaaaaa", "web-2.bbbbbbbbbb")):
    return BackendStats(req_tot=req_tot, scur=scur, qcur=qcur, up=tuple(up), stot=req_tot)


def test_window_rates_means_and_counts(rig):
    clock, haproxy, hosts, sampler = rig
    light = hosts["pod-light"]
    for step, (req, scur, qcur) in enumerate([(0, 0, 0), (20, 2, 0), (40, 3, 1), (60, 1, 1)]):
        clock.now = 1000.0 + 2 * step
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
    assert sample.inflight == pytest.approx((0 + 2 + 3 + 1) / 4)     # scur: served and queued
    assert (sample.queued, sample.queue_growth, sample.queue_least) == (1, 1, 0)
    assert sample.cpu == pytest.approx(50.0)          # mean of 100 % and 0 %
    assert sample.p95_ms == 400.0
    assert (sample.serving, sample.starting) == (2, 1)
    recent = sampler.window("web", seconds=2.0, desired=1)
    assert recent.requests == 20 and recent.rps == pytest.approx(10.0)
    assert recent.p95_ms == 400.0 and recent.starting == 0
    assert sampler.figures(seconds=6.0)["web"] == {
        "rps": pytest.approx(10.0), "requests": 60, "inflight": pytest.approx(1.5),
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
    clock.now += 2.0
    hosts["pod-light"].used = {"aaaaaaaaaa": 250_000_000}  # 0.125 CPU of 0.25
    hosts["pod-heavy"].used = {"cccccccccc": 500_000_000}  # 0.25 CPU of the app's own 0.5
    second = sampler.sample()
    assert second.cpu == {"app_web": pytest.approx(50.0), "app_big": pytest.approx(50.0)}
    assert hosts["pod-light"].calls == [["aaaaaaaaaa"], ["aaaaaaaaaa"]]
    assert hosts["pod-heavy"].calls == [["cccccccccc"], ["cccccccccc"]]
    assert second.hosts == {"pod-light": pytest.approx(0.125), "pod-heavy": pytest.approx(0.25)}
    assert sampler.host_cpu(seconds=1.0) == {"pod-light": pytest.approx(0.125), "pod-heavy": pytest.approx(0.25)}


def test_a_pod_of_two_hosts_is_asked_on_both_and_each_container_counted_once(rig):
    clock, haproxy, hosts, _ = rig
    two = Pod("light", ("pod-light", "pod-heavy"), 20, 0.25, 128)
    sampler = Sampler(Apps([WEB], [two]), haproxy, hosts, 2.0, clock=clock)
    haproxy.answer = {"app_web": web(0)}
    hosts["pod-light"].used = {"aaaaaaaaaa": 0}
    hosts["pod-heavy"].used = {"bbbbbbbbbb": 0}
    sampler.sample()
    clock.now += 2.0
    hosts["pod-light"].used = {"aaaaaaaaaa": 500_000_000}    # web-1 at its whole limit, on pod-light
    hosts["pod-heavy"].used = {"bbbbbbbbbb": 0}              # web-2 idle, on pod-heavy
    reading = sampler.sample()
    assert hosts["pod-heavy"].calls[-1] == ["aaaaaaaaaa", "bbbbbbbbbb"]   # each host answers for its own
    assert reading.cpu == {"app_web": pytest.approx(50.0)}
    assert reading.hosts == {"pod-light": pytest.approx(0.25), "pod-heavy": pytest.approx(0.0)}
    sampler.close()


def test_a_counter_reset_gives_no_negative_or_huge_rate(rig):
    clock, haproxy, hosts, sampler = rig
    for step, req in enumerate([5000, 5020, 10, 30]):     # HAProxy reloaded after 5020
        clock.now = 1000.0 + 2 * step
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
    clock.now += 2.0
    haproxy.answer = {"app_web": web(10)}
    hosts["pod-light"].used = {}                           # cgroups not found
    sampler.sample()
    sample = sampler.window("web", seconds=10.0, desired=1)
    assert (sample.requests, sample.rps, sample.cpu, sample.p95_ms) == (None, None, None, None)
    assert sample.inflight == 0.0 and sample.serving == 2
    clock.now += 2.0
    haproxy.answer = HAProxyError("HAProxy admin socket does not answer")
    sampler.sample()
    clock.now += 2.0
    haproxy.answer = {"app_web": web(16)}
    sampler.sample()
    assert sampler.window("web", seconds=10.0, desired=1).requests == 6


def test_history_is_bounded(rig):
    clock, haproxy, hosts, sampler = rig
    haproxy.answer = {"app_web": web(0)}
    for _ in range(200):
        clock.now += 2.0
        sampler.sample()
    times = [r.time for r in sampler.readings()]
    assert len(times) == 61 and times[0] == clock.now - 120.0


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
        clock.now += 2.0
        light.used = {"aaaaaaaaaa": light.used["aaaaaaaaaa"] + 250_000_000}
        reading = sampler.sample()
        assert not heavy.returned.is_set()              # sample() came back while it hangs
        assert reading.cpu == {"app_web": pytest.approx(50.0)}
    assert len(heavy.calls) == 2                         # the hung read is not asked again
    assert len(light.calls) == 3


def stats(req_tot, scur=0, qcur=0, up=("w-1.aaaaaaaaaa",)):
    return BackendStats(req_tot=req_tot, scur=scur, qcur=qcur, up=tuple(up), stot=req_tot)


def test_the_sampler_gives_every_app_its_series_by_name():
    clock, haproxy = Clock(1000.0), ScriptedHAProxy()
    sampler = Sampler(Apps([], []), haproxy, {}, 2.0, clock=clock)
    try:
        for step, req in enumerate([0, 8, 16]):
            clock.now = 1000.0 + 2 * step
            haproxy.answer = {"app_web": stats(req, up=())}
            sampler.sample()
        sampler.latency.add("app_web", 1003.5, 40)
        got = sampler.series(seconds=6, step=2)
    finally:
        sampler.close()
    assert list(got) == ["web"]
    assert [(p["t"], p["rps"], p["p95_ms"], p["serving"]) for p in got["web"]] == [
        (4.0, None, None, 0), (2.0, pytest.approx(4.0), None, 0), (0.0, pytest.approx(4.0), 40.0, 0)]


def test_an_app_haproxy_no_longer_has_has_no_figures_nor_series(rig):
    clock, haproxy, _, sampler = rig
    haproxy.answer = {"app_web": web(0), "app_big": web(0, up=())}
    sampler.sample()
    clock.now += 2
    haproxy.answer = {"app_web": web(10)}                   # big was stopped: its backend is gone
    sampler.sample()
    assert set(sampler.figures()) == {"web"} and set(sampler.series()) == {"web"}
    clock.now += 2
    haproxy.answer = HAProxyError("no answer")             # HAProxy silent: the last answer stands
    sampler.sample()
    assert set(sampler.figures()) == {"web"}
    assert sampler.known_backends() == {"app_web"}


def test_the_other_managers_requests_count_too(rig):
    """Several managers: requests that came in through another manager's HAProxy
    count in this one's window (the leader's autoscaler sees them all), and
    GET /api/manager/backends tells only this HAProxy's own."""
    clock, haproxy, _, sampler = rig
    through_m2 = iter([web(0), web(30), web(60)])
    sampler.peers = lambda: {"manager-2": {"app_web": next(through_m2)}}
    for step, req in enumerate([0, 10, 20]):
        clock.now = 1000.0 + 2 * step
        haproxy.answer = {"app_web": web(req)}
        sampler.sample()
    sample = sampler.window("web", seconds=4.0, desired=2)
    assert sample.requests == 80 and sample.rps == pytest.approx(20.0)     # 20 here + 60 through manager-2
    assert sampler.local_backends()["app_web"].stot == 20
