"""The manager's metrics (orchestrator/observe) with the real prometheus_client:
what the loops record, what the collectors read at scrape time (the etcd
read bounded and failing soft), and GET /metrics without a controller. Every
check parses the exposition with prometheus_client's own parser."""
from __future__ import annotations

import dataclasses
import threading

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import __version__
from orchestrator.api import create_app
from orchestrator.control.autoscaler import Autoscaler
from orchestrator.control.reconciler import HostReconciler, action_kind
from orchestrator.core.errors import Unavailable
from orchestrator.core.model import NodeStatus
from orchestrator.core.plan import StartContainer
from orchestrator.edges.hostlink import LinkState
from orchestrator.observe.collectors import (FiguresCollector, LinkCollector, StoreCollector,
                                             count_nodes)
from orchestrator.observe.telemetry import CONTENT_TYPE, Telemetry
from orchestrator.core.healing import HealingPolicy
from orchestrator.settings import Settings, WorkerSettings
from orchestrator.usecases import UseCases
from tests.bodies import app_spec, policy
from tests.unit.fakes import Clock, FakeStore
from tests.unit.test_autoscaler import busy


def scrape(telemetry: Telemetry) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) → value, parsed from the exposition."""
    out = {}
    for family in text_string_to_metric_families(telemetry.render().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def named(samples, name) -> dict[frozenset, float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


# --- what the loops record ----------------------------------------------------------

def test_reconcile_passes_are_counted_per_host_and_outcome_with_their_duration():
    clock = Clock()
    t = Telemetry(clock=clock)
    t.reconcile_pass("pod-a", 0.02, "in_sync")
    t.reconcile_pass("pod-a", 0.3, "acted")
    clock.now += 7
    t.reconcile_pass("pod-a", 0.01, "in_sync")
    t.reconcile_pass("pod-b", 2.0, "host_unreachable")
    s = scrape(t)
    assert value(s, "simplecloud_reconcile_passes_total", host="pod-a", outcome="in_sync") == 2
    assert value(s, "simplecloud_reconcile_passes_total", host="pod-a", outcome="acted") == 1
    assert value(s, "simplecloud_reconcile_passes_total", host="pod-b", outcome="host_unreachable") == 1
    assert value(s, "simplecloud_reconcile_duration_seconds_count", host="pod-a") == 3
    assert value(s, "simplecloud_reconcile_duration_seconds_sum", host="pod-a") == pytest.approx(0.33)
    assert value(s, "simplecloud_reconcile_duration_seconds_bucket", host="pod-a", le="0.025") == 2
    assert value(s, "simplecloud_reconcile_duration_seconds_bucket", host="pod-b", le="1.0") == 0
    assert value(s, "simplecloud_reconcile_last_pass_timestamp_seconds", host="pod-a") == clock.now
    assert not [k for k in s if k[0].endswith("_created")]      # switched off: half the lines


def test_outcomes_are_a_closed_set():
    t = Telemetry()
    with pytest.raises(ValueError, match="unknown reconcile outcome 'fine'"):
        t.reconcile_pass("pod-a", 0.1, "fine")
    with pytest.raises(ValueError, match="unknown action outcome 'done'"):
        t.action("pod-a", "start_container", "done", 0.1)
    assert not named(scrape(t), "simplecloud_reconcile_passes_total")


def test_actions_by_kind_and_outcome_and_only_run_steps_are_timed():
    t = Telemetry()
    t.action("pod-a", "start_container", "ok", 0.2)
    t.action("pod-a", "start_container", "failed", 0.05)
    t.action("pod-a", "add_server", "skipped")
    s = scrape(t)
    assert value(s, "simplecloud_actions_total", host="pod-a", kind="start_container", outcome="ok") == 1
    assert value(s, "simplecloud_actions_total", host="pod-a", kind="start_container", outcome="failed") == 1
    assert value(s, "simplecloud_actions_total", host="pod-a", kind="add_server", outcome="skipped") == 1
    assert value(s, "simplecloud_action_duration_seconds_count", host="pod-a", kind="start_container") == 2
    assert value(s, "simplecloud_action_duration_seconds_count", host="pod-a", kind="add_server") is None


@pytest.mark.parametrize("current, replicas, direction", [(2, 4, "up"), (4, 2, "down"), (3, 3, "none")])
def test_autoscale_decisions_by_direction(current, replicas, direction):
    t = Telemetry()
    assert t.autoscale_decision("web", current, replicas) == direction
    assert value(scrape(t), "simplecloud_autoscale_decisions_total", app="web", direction=direction) == 1


def test_link_changes_host_calls_and_the_running_flag():
    t = Telemetry()
    t.link_change("pod-a", True)
    t.link_change("pod-a", False)
    t.link_change("pod-a", True)
    t.host_call("pod-a", "list_workers", 0.004)
    s = scrape(t)
    assert value(s, "simplecloud_host_link_changes_total", host="pod-a", state="up") == 2
    assert value(s, "simplecloud_host_link_changes_total", host="pod-a", state="down") == 1
    assert value(s, "simplecloud_host_call_duration_seconds_bucket", host="pod-a", call="list_workers",
                 le="0.005") == 1
    assert value(s, "simplecloud_controller_running") == 0
    t.controller_running(True)
    assert value(scrape(t), "simplecloud_controller_running") == 1


def test_each_telemetry_has_its_own_registry():
    a, b = Telemetry(), Telemetry()                 # a second one would clash in the global REGISTRY
    a.reconcile_pass("pod-a", 0.1, "acted")
    assert value(scrape(a), "simplecloud_reconcile_passes_total", host="pod-a", outcome="acted") == 1
    assert value(scrape(b), "simplecloud_reconcile_passes_total", host="pod-a", outcome="acted") is None
    assert b"simplecloud" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


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


def test_a_reconcile_pass_is_counted_even_when_it_fails():
    class EtcdDown(FakeStore):
        def list_pods(self):
            raise Unavailable("etcd is not reachable (UNAVAILABLE)")
    t = Telemetry()
    assert HostReconciler("pod-a", FakeStore(), None, None, HealingPolicy(), WorkerSettings(), 2.0, telemetry=t).reconcile_once() is None
    with pytest.raises(Unavailable):
        HostReconciler("pod-a", EtcdDown(), None, None, HealingPolicy(), WorkerSettings(), 2.0, telemetry=t).reconcile_once()
    s = scrape(t)
    assert value(s, "simplecloud_reconcile_passes_total", host="pod-a", outcome="no_pods") == 1
    assert value(s, "simplecloud_reconcile_passes_total", host="pod-a", outcome="error") == 1
    assert value(s, "simplecloud_reconcile_duration_seconds_count", host="pod-a") == 2
    assert action_kind(StartContainer("light", "sc-light.n1.g1")) == "start_container"


# --- nodes from etcd at scrape time ---------------------------------------------------
# ``world``: pod "tiny" with app "web" at 2 replicas (tests/unit/conftest.py)

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


# --- links and figures from memory -----------------------------------------------------

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


# --- GET /metrics without a controller ---------------------------------------------------

def test_metrics_without_a_controller_answer_open_and_valid(store):
    app = create_app(UseCases.over(store), token="t0ken")
    client = app.test_client()
    answer = client.get("/metrics")                   # no token: open, like HAProxy's exporter
    assert answer.status_code == 200 and answer.headers["Content-Type"] == CONTENT_TYPE
    families = {f.name: f for f in text_string_to_metric_families(answer.get_data(as_text=True))}
    assert families["simplecloud_controller_running"].samples[0].value == 0
    assert families["simplecloud_build_info"].samples[0].labels == {"version": __version__}
    assert client.get("/api/status").status_code == 401      # the API still wants the token
