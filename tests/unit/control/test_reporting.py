"""Failures reported by the loops: one event per distinct error per window
(control/reporting.py), so a step that fails on every pass cannot flush the
1,000-event log; and the loops keep going whatever a pass raises."""
from __future__ import annotations

import logging

from orchestrator.control.reconciler import HostReconciler
from orchestrator.control.reporting import WINDOW, Reporter, shape
from orchestrator.core.errors import Unavailable
from orchestrator.settings import Settings
from tests.unit.fakes import Clock, FakeHAProxy, FakeHost, FakeHosts

LOG = logging.getLogger("test")


def test_names_and_numbers_do_not_make_another_error():
    a = shape("create sc-light.web-3.1a2b3c4d for web-3 failed: no space left on device", ["web-3"])
    b = shape("create sc-light.web-17.9f8e7d6c for web-17 failed: no space left on device", ["web-17"])
    assert a == b and "no space left on device" in a
    assert shape("start alpha failed: permission denied", ["alpha"]) != shape("start beta failed: timeout", ["beta"])


def test_an_error_on_every_pass_is_one_event_per_window(store):
    clock = Clock()
    reporter = Reporter(store, LOG, clock=clock)
    for _ in range(300):                                  # 10 minutes of passes every 2 s, 100 nodes each
        for n in range(100):
            reporter.error("controller.error", f"light/web-{n}",
                           f"create container for node web-{n} failed: no space left on device",
                           key="create_container", names=[f"web-{n}"])
        clock.now += 2
        reporter.tick()
    events = store.events(1000)
    assert 9 <= len(events) <= 11                          # the first at once, then one a minute
    assert events[-1].message == "create container for node web-0 failed: no space left on device"
    assert "again" in events[0].message and "light/web-0, light/web-1" in events[0].message


def test_distinct_errors_each_get_their_event_and_a_quiet_one_is_told_again(store):
    clock = Clock()
    reporter = Reporter(store, LOG, clock=clock)
    reporter.error("controller.error", "light/a", "start a failed: no such image", names=["a"])
    reporter.error("controller.error", "light/b", "start b failed: permission denied", names=["b"])
    assert len(store.events(10)) == 2
    clock.now += 3 * WINDOW                                # quiet for longer than a window
    reporter.tick()
    reporter.error("controller.error", "light/a", "start a failed: no such image", names=["a"])
    assert len(store.events(10)) == 3


def test_a_reporter_whose_store_refuses_raises_nothing(store):
    def refuse(*_):
        raise RuntimeError("etcd is gone")

    store.record_event = refuse
    Reporter(store, LOG).error("controller.error", "haproxy", "HAProxy does not answer")


def test_a_host_whose_disk_is_full_costs_an_event_a_minute(world):
    """Every create fails on every pass: the reconciler goes on, and the event
    log gets one event at once and one a minute, not one per node per pass."""
    world.cases.apps.scale("web", 3)
    host = FakeHost(images={"img"})
    host.fail["create"] = Unavailable("write /var/lib/docker/tmp: no space left on device")
    rec = HostReconciler("pod-light", world.store, FakeHosts(host), FakeHAProxy({"app_web"}), Settings().healing,
                         Settings().workers, 1.0, LOG)
    rec.reporter.clock = world.clock
    for _ in range(150):                                   # 5 minutes of passes every 2 s
        rec.reconcile_once()
        world.clock.now += 2
        rec.reporter.tick()
    errors = [e for e in world.store.events(1000) if e.kind == "controller.error"]
    assert 4 <= len(errors) <= 6
    assert all("no space left on device" in e.message for e in errors)
