"""The autoscaler loop's own logic on the FakeStore: applying decisions, the
pod-full message, memory in etcd across a restart, forgetting stopped apps.
(The decision itself is tested on traces in test_autoscale.py.)"""

import pytest

from orchestrator.control.autoscaler import Autoscaler
from orchestrator.control.spares import SpareHosts
from orchestrator.core.autoscale import Sample
from orchestrator.core.errors import NotFound
from orchestrator.core.model import Host
from orchestrator.core.schema import Autoscale
from orchestrator.observe.telemetry import Telemetry
from orchestrator.settings import Settings
from tests.bodies import app_update, policy
from tests.unit.observe.test_telemetry import scrape, value


def autoscaler(world, **kw) -> Autoscaler:
    return Autoscaler(world.store, world.cases.apps, world.sampler, Settings().autoscale, clock=world.clock, **kw)


def busy(serving, rps_per_node, clock):
    return Sample(time=clock.now, serving=serving, starting=0, requests=int(rps_per_node * serving * 5),
                  rps=rps_per_node * serving, inflight=1.0 * serving, cpu=50.0, p95_ms=20.0)


def replicas(world, app="web"):
    return world.cases.apps.get(app)["replicas"]


def test_a_pod_without_room_is_never_a_silent_cap(world):
    store, sampler, clock, scaler = world.store, world.sampler, world.clock, autoscaler(world)
    world.cases.autoscaling.set("web", policy(**{"min": 1, "max": 10, "rps": 20}))
    sampler.next = busy(2, 100, clock)                   # 5× the target: wants far more than 3
    scaler.decide_all()
    assert replicas(world) == 3
    full = [e.message for e in store.events(100) if e.kind == "autoscale"]
    assert len(full) == 1 and full[0].startswith("web: pod tiny is full: 2 nodes on pod-light (2/3 of this pod")
    assert full[0].endswith("; scaled to 3")
    clock.now += 5
    sampler.next = busy(3, 100, clock)
    scaler.decide_all()                                   # still full: said once, not every 5 s
    scaler.decide_all()
    assert len([e for e in store.events(100) if e.kind == "autoscale"]) == 1
    last = store.list_autoscale_states()["web"]["last"]
    assert last["replicas"] == 3 and "is full" in last["reason"]


def test_the_memory_survives_a_restart(world):
    sampler, clock, scaler = world.sampler, world.clock, autoscaler(world)
    world.cases.autoscaling.set("web", policy(**{"min": 1, "max": 3, "rps": 20, "scale_down_window_s": 60}))
    sampler.next = busy(2, 40, clock)
    scaler.decide_all()
    assert replicas(world) == 3
    clock.now += 5
    restarted = autoscaler(world)                          # a new manager process
    sampler.next = busy(3, 1, clock)                      # idle now, but within the window
    restarted.decide_all()
    assert replicas(world) == 3
    for _ in range(10):                                   # a decision every 5 s, within 60 s of the peak
        clock.now += 5
        restarted.decide_all()
        assert replicas(world) == 3
    clock.now += 5
    restarted.decide_all()                                # the window has passed
    assert replicas(world) == 1


def test_decisions_are_events_with_their_numbers(world):
    store, sampler, clock, scaler = world.store, world.sampler, world.clock, autoscaler(world)
    world.cases.autoscaling.set("web", policy(**{"min": 1, "max": 3, "rps": 20}))
    sampler.next = busy(2, 30, clock)
    scaler.decide_all()
    [event] = [e for e in store.events(100) if e.kind == "autoscale"]
    assert event.subject == "app/web" and event.message.startswith("web: 2 → 3")
    assert "30" in event.message and "20" in event.message


def test_no_sample_yet_means_no_decision(world):
    store, scaler = world.store, autoscaler(world)
    world.cases.autoscaling.set("web", policy(**{"min": 1, "max": 3, "rps": 20}))
    scaler.decide_all()
    assert replicas(world) == 2 and "web" not in store.list_autoscale_states()


def test_a_damaged_memory_starts_afresh_and_a_stopped_app_is_forgotten(world):
    store, sampler, clock, scaler = world.store, world.sampler, world.clock, autoscaler(world)
    world.cases.autoscaling.set("web", policy(**{"min": 1, "max": 3, "rps": 20}))
    store.put_autoscale_state("web", {"state": {"recommendations": "garbage"}})
    sampler.next = busy(2, 20, clock)
    scaler.decide_all()
    assert store.list_autoscale_states()["web"]["last"]["replicas"] == 2
    with pytest.raises(NotFound):                  # no policy for an app that is not there
        store.put_autoscale("gone", Autoscale.model_validate({"min": 1, "max": 2, "rps": 5}))
    store._commit({"autoscale/gone": {"min": 1, "max": 2, "rps": 5}})      # one left by an older version
    scaler.decide_all()
    assert "gone" not in store.list_autoscale()


def test_the_autoscaler_counts_every_decision(world):
    t = Telemetry()
    scaler = Autoscaler(world.store, world.cases.apps, world.sampler, Settings().autoscale, clock=world.clock,
                        telemetry=t)
    world.cases.autoscaling.set("web", policy(min=1, max=10, rps=20))
    world.sampler.next = busy(2, 100, world.clock)    # 5× the target; the pod has room for 3
    scaler.decide_all()
    world.clock.now += 5
    world.sampler.next = busy(3, 20, world.clock)     # on target
    scaler.decide_all()
    s = scrape(t)
    assert value(s, "simplecloud_autoscale_decisions_total", app="web", direction="up") == 1
    assert value(s, "simplecloud_autoscale_decisions_total", app="web", direction="none") == 1


def test_a_full_pod_grows_by_a_spare_and_gives_it_back_after_the_window(world):
    store, sampler, clock = world.store, world.sampler, world.clock
    store.register_hosts([Host("spare-1", 4, 1.0, 256)])
    spares = SpareHosts(store, window=60.0, clock=clock)
    scaler = autoscaler(world, spares=spares)
    world.cases.autoscaling.set("web", policy(**{"min": 1, "max": 6, "rps": 20, "scale_down_window_s": 10}))
    sampler.next = busy(2, 50, clock)                     # wants 5; tiny holds 3 on pod-light
    scaler.decide_all()
    assert store.get_pod("tiny").hosts == ("pod-light", "spare-1") and store.get_pod("tiny").lent == ("spare-1",)
    assert replicas(world) == 5
    assert {n.host for n in store.list_nodes("tiny")} == {"pod-light", "spare-1"}
    (lent,) = [e for e in store.events(20) if e.kind == "host.lent"]
    assert lent.message == ("pod tiny is full and needs room for 3 more node(s); spare host spare-1 adds room for 3")
    assert any(e.kind == "autoscale" and e.message.endswith("pod tiny grew by host spare-1")
               for e in store.events(20))
    sampler.next = busy(5, 1, clock)                      # the load is gone
    for _ in range(5):
        clock.now += 5
        scaler.decide_all()
    assert replicas(world) == 1 and {n.host for n in store.list_nodes("tiny")} == {"pod-light"}
    assert not store.get_host("spare-1").draining         # not yet: the window runs
    clock.now += 61
    scaler.decide_all()
    assert store.get_host("spare-1").draining              # drained (the placer moves what is left)
    clock.now += 5
    scaler.decide_all()
    assert store.get_pod("tiny").hosts == ("pod-light",) and store.get_pod("tiny").lent == ()
    assert not store.get_host("spare-1").draining and store.list_spare_states() == {}
    kinds = [e.kind for e in store.events(50)]
    assert "host.draining" in kinds and "host.returned" in kinds


def test_without_a_spare_the_pod_stays_full_and_says_so(world):
    store, sampler, clock = world.store, world.sampler, world.clock
    scaler = autoscaler(world, spares=SpareHosts(store, window=60.0, clock=clock))
    world.cases.autoscaling.set("web", policy(**{"min": 1, "max": 10, "rps": 20}))
    sampler.next = busy(2, 100, clock)
    scaler.decide_all()
    assert replicas(world) == 3 and store.get_pod("tiny").hosts == ("pod-light",)
    (full,) = [e.message for e in store.events(100) if e.kind == "autoscale"]
    assert "pod tiny is full" in full and "no spare host to add; scaled to 3" in full
def test_the_memory_is_written_when_it_says_something_new_not_every_pass(world):
    """A steady app's memory is written about once a minute (REFRESH), not every
    5 s; a decision that changes something is written at once."""
    store, sampler, clock, scaler = world.store, world.sampler, world.clock, autoscaler(world)
    world.cases.autoscaling.set("web", policy(min=1, max=3, rps=20))
    writes = []
    real = store.put_autoscale_state
    store.put_autoscale_state = lambda *a, **kw: writes.append(clock.now) or real(*a, **kw)
    for _ in range(120):                                  # 10 minutes on target
        sampler.next = busy(2, 20, clock)
        scaler.decide_all()
        clock.now += 5
    assert 10 <= len(writes) <= 14                        # the windows filling, then one a minute
    before = len(writes)
    sampler.next = busy(2, 60, clock)                     # 3× the target: a scale-up
    scaler.decide_all()
    assert len(writes) == before + 1 and replicas(world) == 3
    assert store.list_autoscale_states()["web"]["last"]["replicas"] == 3


def test_a_stopped_app_leaves_no_series_on_metrics(world):
    t = Telemetry()
    scaler = Autoscaler(world.store, world.cases.apps, world.sampler, Settings().autoscale, clock=world.clock,
                        telemetry=t)
    world.cases.autoscaling.set("web", policy(min=1, max=3, rps=20))
    world.sampler.next = busy(2, 20, world.clock)
    scaler.decide_all()
    assert value(scrape(t), "simplecloud_autoscale_decisions_total", app="web", direction="none") == 1
    world.cases.apps.stop("web")
    scaler.decide_all()
    assert not [k for k in scrape(t) if k[0] == "simplecloud_autoscale_decisions_total"]


def test_warm_nodes_are_not_replicas_and_a_full_pod_still_promotes_them(world):
    """Pod tiny holds 3 nodes: web at 2 serving + 1 warm is full, yet a scale-out
    takes the warm node (it is room the pod already gave the app)."""
    store, sampler, clock, scaler = world.store, world.sampler, world.clock, autoscaler(world)
    world.cases.apps.update("web", app_update(warm=1))
    world.cases.autoscaling.set("web", policy(**{"min": 1, "max": 10, "rps": 20}))
    sampler.next = busy(2, 100, clock)
    scaler.decide_all()
    assert replicas(world) == 3 and world.cases.apps.get("web")["warm_nodes"] == 0
    last = store.list_autoscale_states()["web"]["last"]
    assert (last["current"], last["replicas"]) == (2, 3) and last["reason"].endswith("; scaled to 3")
