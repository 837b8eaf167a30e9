"""What the collectors read at scrape time (observe/collectors.py): nodes from etcd (bounded, failing soft),
links and figures from memory."""
from __future__ import annotations

import dataclasses
import threading

import pytest

from orchestrator import __version__
from orchestrator.core.errors import Unavailable
from orchestrator.core.model import NodeStatus
from orchestrator.edges.hostlink import LinkState
from orchestrator.observe.collectors import (
    FiguresCollector,
    LinkCollector,
    StoreCollector,
    count_nodes,
)
from orchestrator.observe.telemetry import Telemetry
from tests.bodies import app_spec, app_update, policy
from tests.unit.fakes import Clock
from tests.unit.observe.test_telemetry import named, scrape, value


def test_count_nodes_by_desired_status_and_observed_phase(world):
    store, cases = world.store, world.cases
    nodes = {n.name: n for n in store.list_nodes("tiny")}
    store.put_observed("tiny", "web-1", {"phase": "serving", "node_created": nodes["web-1"].created})
    store.put_observed("tiny", "web-2", {"phase": "serving", "node_created": nodes["web-2"].created - 1})
    cases.apps.deploy(app_spec(name="api", pod="medium", port=8000, image="img", replicas=2))
    cases.pods.pause("medium")
    store.put_observed("medium", "api-1", {"phase": "paused",
                                           "node_created": store.list_nodes("medium")[0].created})
    desired, seen = count_nodes(store.list_nodes(), store.list_observed())
    assert desired == {("tiny", "web", "ONLINE"): 2, ("medium", "api", "PAUSED"): 2}
    # web-2's record is about an earlier node of that name; api-2 was never seen
    assert seen == {("tiny", "web", "serving"): 1, ("tiny", "web", "unknown"): 1,
                    ("medium", "api", "paused"): 1, ("medium", "api", "unknown"): 1}
    removed = dataclasses.replace(nodes["web-2"], status=NodeStatus.REMOVED)
    desired, seen = count_nodes([removed], {})
    assert desired == {("tiny", "web", "REMOVED"): 1} and not seen


def test_the_store_collector_shows_nodes_pods_and_policies(world):
    store = world.store
    world.cases.autoscaling.set("web", policy(min=2, max=5, rps=20))
    store.put_autoscale_state("web", {"state": {}, "last": {"replicas": 4}})
    t = Telemetry()
    t.add_collector(StoreCollector(store))
    s = scrape(t)
    assert value(s, "simplecloud_store_up") == 1
    assert value(s, "simplecloud_nodes", pod="tiny", app="web", status="ONLINE") == 2
    assert value(s, "simplecloud_nodes_observed", pod="tiny", app="web", phase="unknown") == 2
    assert value(s, "simplecloud_pod_capacity_nodes", pod="heavy") == 10
    assert value(s, "simplecloud_autoscale_min_replicas", app="web") == 2
    assert value(s, "simplecloud_autoscale_max_replicas", app="web") == 5
    assert value(s, "simplecloud_autoscale_desired_replicas", app="web") == 4
    assert value(s, "simplecloud_app_warm_nodes", app="web") == 0


def test_the_warm_pool_of_each_app_is_a_gauge(world):
    world.cases.apps.update("web", app_update(warm=1))
    t = Telemetry()
    t.add_collector(StoreCollector(store := world.store))
    s = scrape(t)
    assert value(s, "simplecloud_app_warm_nodes", app="web") == 1
    assert value(s, "simplecloud_app_warm_target", app="web") == 1
    assert value(s, "simplecloud_nodes", pod="tiny", app="web", status="ONLINE") == 3   # it is a node
    assert store.pod_node_count("tiny") == 3


class FlakyStore:
    """A store that answers, fails (etcd down) or hangs (etcd frozen) on demand."""

    def __init__(self, store):
        self.store, self.mode, self.reads = store, "ok", 0
        self.release = threading.Event()

    def __getattr__(self, name):
        def call(*args, **kwargs):
            if name == "list_nodes":
                self.reads += 1
            if self.mode == "down":
                raise Unavailable("etcd is not reachable (UNAVAILABLE)")
            if self.mode == "frozen":
                self.release.wait(30)
            return getattr(self.store, name)(*args, **kwargs)
        return call


def test_a_scrape_while_etcd_is_down_or_frozen_answers_with_the_last_figures(world):
    flaky, clock = FlakyStore(world.store), Clock()
    collector = StoreCollector(flaky, deadline=0.2, min_interval=1.0, clock=clock)
    t = Telemetry()
    t.add_collector(collector)
    assert value(scrape(t), "simplecloud_nodes", pod="tiny", app="web", status="ONLINE") == 2
    first = clock.now

    clock.now += 0.5                                 # a second scrape within min_interval: no read
    assert value(scrape(t), "simplecloud_store_up") == 1 and flaky.reads == 1

    clock.now += 5
    flaky.mode = "down"
    world.cases.apps.scale("web", 1)                 # etcd changed, but we cannot see it
    s = scrape(t)
    assert value(s, "simplecloud_store_up") == 0 and collector.error.startswith("etcd is not reachable")
    assert value(s, "simplecloud_nodes", pod="tiny", app="web", status="ONLINE") == 2
    assert value(s, "simplecloud_store_last_read_timestamp_seconds") == first

    flaky.mode = "frozen"
    clock.now += 5
    frozen = clock.now
    s = scrape(t)                                    # gives up after the deadline
    assert value(s, "simplecloud_store_up") == 0 and "did not answer within 0.2 s" in collector.error
    reads = flaky.reads
    clock.now += 5
    assert value(scrape(t), "simplecloud_store_up") == 0
    assert flaky.reads == reads                      # the late read is waited for again, not doubled

    flaky.mode = "ok"
    flaky.release.set()                              # etcd thaws: the late read ends ...
    clock.now += 5
    s = scrape(t)                                    # ... and this scrape has what it read
    assert value(s, "simplecloud_store_up") == 1 and collector.error == ""
    assert value(s, "simplecloud_nodes", pod="tiny", app="web", status="ONLINE") == 1
    assert value(s, "simplecloud_store_last_read_timestamp_seconds") in (frozen, clock.now)


def test_before_any_read_succeeds_only_the_error_gauge_is_there(world):
    flaky = FlakyStore(world.store)
    flaky.mode = "down"
    t = Telemetry()
    t.add_collector(StoreCollector(flaky, deadline=0.2))
    s = scrape(t)
    assert value(s, "simplecloud_store_up") == 0
    assert not named(s, "simplecloud_nodes") and not named(s, "simplecloud_store_last_read_timestamp_seconds")


def test_link_states_and_their_last_ping():
    states = {"pod-a": LinkState(True, 1.0, "", 1.5), "pod-b": LinkState(False, 2.0, "refused")}
    t = Telemetry()
    t.add_collector(LinkCollector(lambda: states))
    s = scrape(t)
    assert value(s, "simplecloud_host_link_up", host="pod-a") == 1
    assert value(s, "simplecloud_host_link_up", host="pod-b") == 0
    assert value(s, "simplecloud_host_link_rtt_seconds", host="pod-a") == pytest.approx(0.0015)
    assert value(s, "simplecloud_host_link_rtt_seconds", host="pod-b") is None


def test_unknown_figures_are_left_out_never_zero():
    figures = {"web": {"rps": 12.5, "inflight": 2.0, "cpu": None, "p95_ms": 40.0, "serving": 3},
               "idle": {"rps": None, "inflight": None, "cpu": None, "p95_ms": None, "serving": 0}}
    t = Telemetry()
    t.add_collector(FiguresCollector(lambda: figures))
    s = scrape(t)
    assert value(s, "simplecloud_app_requests_per_second", app="web") == 12.5
    assert value(s, "simplecloud_app_latency_p95_seconds", app="web") == pytest.approx(0.04)
    assert value(s, "simplecloud_app_serving_nodes", app="idle") == 0
    assert not named(s, "simplecloud_app_cpu_percent")
    assert value(s, "simplecloud_app_requests_per_second", app="idle") is None


def test_a_failing_source_leaves_its_series_out_and_the_scrape_answers(caplog):
    def broken():
        raise RuntimeError("sampler gone")
    t = Telemetry()
    t.add_collector(LinkCollector(broken))
    t.add_collector(FiguresCollector(broken))
    s = scrape(t)
    scrape(t)
    assert value(s, "simplecloud_build_info", version=__version__) == 1
    assert not named(s, "simplecloud_host_link_up") and not named(s, "simplecloud_app_serving_nodes")
    assert sum("cannot read" in r.getMessage() for r in caplog.records) == 2    # once each, not per scrape
