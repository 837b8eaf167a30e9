"""The controller (control/controller.py) wires the loops to their wake-ups:
a reconciler per host registered or named by a pod (only while the acting
loops run), Docker events and link changes waking the right one, a link
change written to etcd (``links/``), counted and waking the placer, and the
HAProxy sync waking the hosts."""
from __future__ import annotations

import threading

import pytest

from orchestrator.control.controller import Controller
from orchestrator.control.haproxy_sync import HAProxySync
from orchestrator.core.model import Host
from orchestrator.edges.hostlink import LinkState
from orchestrator.observe.telemetry import Telemetry
from orchestrator.settings import IntervalSettings
from tests.bodies import pod_spec
from tests.unit.fakes import FakeHAProxy
from tests.unit.observe.test_telemetry import scrape, value


def eventually(predicate, timeout=5.0) -> bool:
    """Whether ``predicate()`` holds within ``timeout`` seconds (the loops run in threads)."""
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        done.wait(0.01)
    return predicate()


class Reconciler:
    """A reconciler stand-in: its wake-up event, and whether its loop ran."""

    def __init__(self, host):
        self.host, self.wake, self.ran = host, threading.Event(), threading.Event()

    def run(self, stop):
        self.ran.set()
        stop.wait()


class Sampler:
    def __init__(self):
        self.started = self.closed = False

    def start(self):
        self.started = True

    def close(self):
        self.closed = True


class Placer:
    def __init__(self):
        self.wake, self.ran = threading.Event(), threading.Event()

    def run(self, stop):
        self.ran.set()
        stop.wait()


class Pool:
    """What the controller sets on the HostPool: its two handlers."""

    on_event = on_state = None

    def states(self):
        return {}


@pytest.fixture
def rig(store, cases):
    made: list[str] = []

    def new_reconciler(host):
        made.append(host)
        return Reconciler(host)

    sync = HAProxySync(store, FakeHAProxy(), IntervalSettings(reconcile_interval=0.05, health_poll_interval=0.05))
    pool = Pool()
    controller = Controller(store, pool, sync, Sampler(), new_reconciler, 0.05, telemetry=Telemetry(),
                            placer=Placer())
    stop = threading.Event()
    yield controller, made, pool, stop
    stop.set()
    assert controller.join(10)


def test_reconcilers_only_while_acting_one_per_host_registered_or_named_by_a_pod(rig, cases, store):
    controller, made, _, stop = rig
    controller.start_local(stop)
    controller.ensure_reconcilers()
    assert made == [] and controller.sampler.started          # local loops only: no reconciler
    controller.start_acting(stop)
    assert made == ["pod-heavy", "pod-light", "pod-medium"] and controller.placer.ran.wait(5)
    store.register_hosts([Host("pod-far", 4, 1.0, 512), Host("spare-1", 4, 1.0, 512)])
    cases.pods.register(pod_spec(name="extra", host="pod-light"))   # a host it has already
    cases.pods.register(pod_spec(name="far", host="pod-far"))
    controller.ensure_reconcilers()
    assert made == ["pod-heavy", "pod-light", "pod-medium", "pod-far", "spare-1"]   # a spare's too
    assert all(r.ran.wait(5) for r in controller.reconcilers.values())


def test_docker_events_wake_the_reconciler_of_their_host_only(rig):
    controller, _, pool, stop = rig
    controller.start(stop)
    light, heavy = controller.reconcilers["pod-light"], controller.reconcilers["pod-heavy"]
    for r in controller.reconcilers.values():
        r.wake.clear()
    pool.on_event("pod-light", {"status": "die"})
    pool.on_event("pod-heavy", {"Action": "exec_create"})     # not a container life event
    assert light.wake.is_set() and not heavy.wake.is_set()


def test_a_link_change_is_written_said_counted_and_wakes_its_host(rig, store):
    controller, _, pool, stop = rig
    controller.start(stop)
    light = controller.reconcilers["pod-light"]
    light.wake.clear()
    controller.placer.wake.clear()
    pool.on_state("pod-light", LinkState(False, 5.0, "no route to host"))
    assert light.wake.is_set() and controller.placer.wake.is_set()
    assert store.list_link_states()["pod-light"] == {"reachable": False, "since": 5.0,
                                                    "error": "no route to host", "rtt_ms": None}
    pool.on_state("pod-light", LinkState(False, 9.0, "connection refused"))      # a new leader's first look
    assert store.list_link_states()["pod-light"]["since"] == 5.0                 # the grace runs from the first
    (event,) = [e for e in store.events(10) if e.kind == "host.unreachable"]     # one: it was down already
    assert "no route to host" in event.message
    for error in ("connection refused", "timed out", "connection refused"):    # still down, tried again
        pool.on_state("pod-light", LinkState(False, 5.0, error))
    assert store.list_link_states()["pod-light"]["error"] == "connection refused"
    assert [e.kind for e in store.events(10)].count("host.unreachable") == 1
    pool.on_state("pod-light", LinkState(True, 6.0, "", 1.5))
    assert store.events(1)[0].kind == "host.reachable"
    s = scrape(controller.telemetry)
    assert value(s, "simplecloud_host_link_changes_total", host="pod-light", state="down") == 1
    assert value(s, "simplecloud_host_link_changes_total", host="pod-light", state="up") == 1


def test_the_haproxy_sync_and_an_etcd_change_wake_every_reconciler(rig, store):
    controller, _, _, stop = rig
    controller.start(stop)
    for r in controller.reconcilers.values():
        r.wake.clear()
    controller.haproxy_sync.wake_hosts()                      # wired by the controller
    assert all(r.wake.is_set() for r in controller.reconcilers.values())
    for r in controller.reconcilers.values():
        r.wake.clear()
    store.register_hosts([Host("pod-late", 4, 1.0, 512)])      # the etcd watch sees it ...
    assert controller.reconcilers["pod-light"].wake.wait(5)           # ... wakes every host ...
    assert eventually(lambda: "pod-late" in controller.reconcilers)  # ... and makes the new one


def test_stopping_closes_the_sampler_and_says_the_loops_stopped(rig):
    controller, _, _, stop = rig
    controller.start(stop)
    assert value(scrape(controller.telemetry), "simplecloud_controller_running") == 1
    stop.set()
    assert controller.join(10) and controller.sampler.closed
    assert value(scrape(controller.telemetry), "simplecloud_controller_running") == 0


class Election:
    """A Leadership stand-in: the controller hands it on_change; the test calls it."""

    name = "manager-1"

    def __init__(self):
        self.on_change = None
        self.ran = threading.Event()

    def run(self, stop):
        self.ran.set()
        stop.wait()

    def may_act(self):
        return True


def test_the_acting_loops_run_for_a_term_of_office_only(store, cases):
    from orchestrator.edges.election import LeaderInfo
    made: list[str] = []
    reconcilers: list[Reconciler] = []

    def new_reconciler(host):
        made.append(host)
        reconcilers.append(Reconciler(host))
        return reconcilers[-1]

    store.register_hosts([Host("pod-a", 4, 1.0, 512)])
    cases.pods.register(pod_spec(name="p", host="pod-a"))
    sync = HAProxySync(store, FakeHAProxy(), IntervalSettings(reconcile_interval=0.05, health_poll_interval=0.05))
    telemetry, election = Telemetry(), Election()
    controller = Controller(store, Pool(), sync, Sampler(), new_reconciler, 0.05, telemetry=telemetry,
                            leadership=election)
    stop = threading.Event()
    controller.start(stop)
    try:
        assert eventually(election.ran.is_set) and made == [] and controller.leading() is None
        election.on_change(LeaderInfo("manager-1", 42, 0.0), "won the election (epoch 42)")
        first_term = list(made)
        assert "pod-a" in first_term and eventually(lambda: all(r.ran.is_set() for r in reconcilers))
        assert value(scrape(telemetry), "simplecloud_leader") == 1.0
        assert value(scrape(telemetry), "simplecloud_leader_epoch") == 42.0
        election.on_change(None, "its lease had expired")
        assert value(scrape(telemetry), "simplecloud_leader") == 0.0 and controller.reconcilers == {}
        kinds = [(e.kind, e.message) for e in store.events(10)]
        assert ("leader.lost", "manager manager-1 no longer leads: its lease had expired") in kinds
        assert any(k == "leader.elected" and "epoch 42" in m for k, m in kinds)
        election.on_change(LeaderInfo("manager-1", 50, 0.0), "won the election (epoch 50)")
        assert made == first_term * 2               # a new term, new reconcilers (their records from etcd)
    finally:
        stop.set()
        assert controller.join(10)
