"""The reconciler of one pod host (control/reconciler.py) on stand-ins: it
observes (store, host, HAProxy), plans (core/plan.py), runs the chains on
the host and HAProxy, and writes what it saw; a broken step ends only its
chain; a host that does not answer is marked, not acted on; what it learned
of a node survives a restart. tests/integration/test_controller.py runs the
same loop on a real dockerd, etcd and HAProxy."""
from __future__ import annotations

import dataclasses
import threading

import pytest

from orchestrator.control.reconciler import HostReconciler, action_kind
from orchestrator.core.errors import Unavailable
from orchestrator.core.healing import HealingPolicy
from orchestrator.core.model import Host, spec_generation
from orchestrator.core.steps import StartContainer
from orchestrator.observe.telemetry import Telemetry
from orchestrator.settings import WorkerSettings
from orchestrator.usecases import UseCases
from tests.bodies import app_spec, node_spec, pod_spec
from tests.unit.fakes import FakeHAProxy, FakeHost, FakeHosts, FakeLink, FakeStore
from tests.unit.observe.test_telemetry import scrape, value


@pytest.fixture
def rig(store, cases):
    """Pod "tiny" on host pod-tiny with app "web" (backend present), a host and an HAProxy of stand-ins."""
    store.register_hosts([Host("pod-tiny", 4, 1.0, 256)])
    cases.pods.register(pod_spec(name="tiny", host="pod-tiny", max_nodes=4, cpus=0.25, memory_mb=64))
    cases.apps.deploy(app_spec(name="web", pod="tiny", port=8000, image="img", replicas=0))
    host, haproxy = FakeHost(images={"img"}), FakeHAProxy(backends={"app_web"})
    hosts = FakeHosts(host)
    rec = HostReconciler("pod-tiny", store, hosts, haproxy, HealingPolicy(), WorkerSettings(), 2.0,
                         telemetry=Telemetry())
    return rec, host, haproxy, hosts


def serving(rig, cases, replicas):
    """Scale web to ``replicas`` and reconcile until they all serve (their checks passing)."""
    rec, _, haproxy, _ = rig
    cases.apps.scale("web", replicas)
    rec.reconcile_once()
    for i in range(1, replicas + 1):
        haproxy.check("app_web", f"web-{i}", True)
    rec.reconcile_once()


def phases(store, pod="tiny"):
    return {node: view["phase"] for (p, node), view in store.list_observed().items() if p == pod}


def test_an_online_node_is_created_started_and_put_in_haproxy_then_serves(rig, cases, store):
    rec, host, haproxy, _ = rig
    cases.apps.scale("web", 1)
    plan = rec.reconcile_once()
    assert [action_kind(a) for a in plan.actions] == ["create_container", "start_container", "add_server"]
    (c,) = host.containers
    assert c.state == "running" and c.gen == spec_generation(store.get_app("web"), store.get_pod("tiny"))
    (server,) = haproxy.show_servers()
    assert (server.backend, server.addr, server.port, server.admin) == ("app_web", c.ip, 8000, "ready")
    assert server.name == f"web-1.{c.id[:10]}"
    assert phases(store) == {"web-1": "starting"}            # in HAProxy, not past its first check
    haproxy.check("app_web", "web-1", True)
    assert not rec.reconcile_once()                           # in sync: an empty plan
    assert phases(store) == {"web-1": "serving"}
    assert [e.kind for e in store.events(3)][:3] == ["controller.add_server", "controller.start_container",
                                                     "controller.create_container"]


def test_a_new_node_is_created_and_left_stopped(rig, cases, store):
    rec, host, haproxy, _ = rig
    cases.nodes.register(node_spec("n1", "tiny", app="web"))
    rec.reconcile_once()
    assert [c.state for c in host.containers] == ["created"] and haproxy.show_servers() == []
    assert phases(store) == {"n1": "starting"}


def test_a_node_removed_from_desired_state_is_drained_and_its_container_removed(rig, cases, store):
    rec, host, haproxy, _ = rig
    cases.apps.scale("web", 2)
    rec.reconcile_once()
    haproxy.check("app_web", "web-2", True)
    (gone,) = [c for c in host.containers if c.node == "web-2"]
    cases.apps.scale("web", 1)                                # web-2 goes (the newest)
    plan = rec.reconcile_once()
    assert [action_kind(a) for a in plan.chains[f"orphan/{gone.name}"]] == \
        ["del_server", "stop_container", "remove_container"]    # drained before it stops
    assert [c.node for c in host.containers] == ["web-1"]
    assert [s.name.split(".")[0] for s in haproxy.show_servers()] == ["web-1"]
    assert set(phases(store)) == {"web-1"}                    # its record went with it


def test_a_failed_step_ends_its_chain_only_and_is_reported(rig, cases, store):
    rec, host, haproxy, _ = rig
    cases.apps.scale("web", 2)
    real_start = host.start

    def start(name):
        if ".web-2." in name:
            raise Unavailable("the engine said no")
        return real_start(name)

    host.start = start
    rec.reconcile_once()
    assert len(rec.last_failures) == 1 and "the engine said no" in rec.last_failures[0][1]
    assert {c.node: c.state for c in host.containers} == {"web-1": "running", "web-2": "created"}
    assert [s.name.split(".")[0] for s in haproxy.show_servers()] == ["web-1"]   # web-2's add was skipped
    errors = [e for e in store.events(50) if e.kind == "controller.error"]
    assert len(errors) == 1 and errors[0].subject == "tiny/web-2"
    host.start = real_start
    rec.reconcile_once()                                      # the next pass finishes it
    assert {c.node: c.state for c in host.containers} == {"web-1": "running", "web-2": "running"}


def test_an_unreachable_host_is_marked_and_not_acted_on(rig, cases, store):
    rec, host, haproxy, hosts = rig
    serving(rig, cases, 1)
    hosts.link_.up = False
    calls = len(host.calls)
    assert rec.reconcile_once() is None
    assert len(host.calls) == calls                           # not even a listing
    (view,) = store.list_observed().values()
    assert view["phase"] == "unreachable" and view["host_error"].startswith("host is unreachable")
    assert view["ip"] == host.containers[0].ip                # the last thing seen is kept
    assert value(scrape(rec.telemetry), "simplecloud_reconcile_passes_total", host="pod-tiny",
                 outcome="host_unreachable") == 1
    hosts.link_.up = True
    rec.reconcile_once()
    assert phases(store) == {"web-1": "serving"}


def test_a_crash_is_healed_and_remembered_across_a_restart(rig, cases, store):
    rec, host, haproxy, hosts = rig
    serving(rig, cases, 1)
    (first,) = host.containers
    host.containers = [dataclasses.replace(first, state="exited", ip=None, exit_code=137)]
    rec.reconcile_once()                                      # replaced at once: the first failure
    assert [c.id for c in host.containers if c.state == "running"] != [first.id]
    view = store.get_observed("tiny", "web-1")
    assert view["restarts"] == 1 and "exited with code 137" in view["last_error"]
    restarted = HostReconciler("pod-tiny", store, hosts, haproxy, HealingPolicy(), WorkerSettings(), 2.0)
    restarted.reconcile_once()
    assert restarted.last_plan is not None
    assert store.get_observed("tiny", "web-1")["restarts"] == 1          # not forgotten
    assert [e.kind for e in store.events(50)].count("node.failed") == 1


def test_haproxy_not_answering_skips_the_pass():
    class Deaf(FakeHAProxy):
        def show_servers(self):
            raise Unavailable("HAProxy admin socket does not answer")
    store = FakeStore()
    cases = UseCases.over(store)
    store.register_hosts([Host("pod-tiny", 4, 1.0, 256)])
    cases.pods.register(pod_spec(name="tiny", host="pod-tiny", max_nodes=2, cpus=0.25, memory_mb=64))
    cases.apps.deploy(app_spec(name="web", pod="tiny", port=8000, image="img", replicas=1))
    host = FakeHost()
    rec = HostReconciler("pod-tiny", store, FakeHosts(host), Deaf(), HealingPolicy(), WorkerSettings(), 2.0)
    assert rec.reconcile_once() is None and host.containers == []
    assert [e.kind for e in store.events(5)][0] == "controller.error"


def test_a_reconcile_pass_is_counted_even_when_it_fails():
    class EtcdDown(FakeStore):
        def list_pods(self):
            raise Unavailable("etcd is not reachable (UNAVAILABLE)")
    t = Telemetry()
    assert HostReconciler("pod-a", FakeStore(), None, None, HealingPolicy(), WorkerSettings(), 2.0,
                          telemetry=t).reconcile_once() is None
    with pytest.raises(Unavailable):
        HostReconciler("pod-a", EtcdDown(), None, None, HealingPolicy(), WorkerSettings(), 2.0,
                       telemetry=t).reconcile_once()
    s = scrape(t)
    assert value(s, "simplecloud_reconcile_passes_total", host="pod-a", outcome="no_pods") == 1
    assert value(s, "simplecloud_reconcile_passes_total", host="pod-a", outcome="error") == 1
    assert value(s, "simplecloud_reconcile_duration_seconds_count", host="pod-a") == 2
    assert action_kind(StartContainer("light", "sc-light.n1.g1")) == "start_container"


def test_the_loop_ends_when_stopped(rig):
    rec, _, _, _ = rig
    stop = threading.Event()
    stop.set()
    loop = threading.Thread(target=rec.run, args=(stop,))
    loop.start()
    loop.join(10)
    assert not loop.is_alive()


def test_a_down_link_is_given_its_check(rig, cases):
    rec, host, _, hosts = rig
    hosts.link_ = FakeLink(up=False, error="connection refused")
    cases.apps.scale("web", 1)
    assert rec.reconcile_once() is None and host.containers == []


def test_a_leader_that_may_not_act_takes_no_step_and_counts_none_failed(rig, cases, store):
    """The guard (Leadership.check) comes before every step: once it raises
    NotLeader the rest of the pass does nothing on the host or HAProxy."""
    from orchestrator.core.errors import NotLeader
    rec, host, haproxy, _ = rig
    allowed = iter([True])                      # the first step may go, then the lease is lost

    def guard():
        if next(allowed, False):
            return 7
        raise NotLeader("manager m has not renewed its leadership")

    rec.guard = guard
    cases.apps.scale("web", 1)
    rec.reconcile_once()
    (c,) = host.containers                      # created under epoch 7, then nothing more
    assert c.state == "created" and c.epoch == 7
    assert haproxy.show_servers() == [] and rec.last_failures == []


def test_new_containers_carry_the_epoch_of_the_term_that_made_them(rig, cases):
    rec, host, _, _ = rig
    rec.guard = lambda: 12
    cases.apps.scale("web", 2)
    rec.reconcile_once()
    assert {c.epoch for c in host.containers} == {12}


class TwoHosts:
    """A HostPool stand-in with one FakeHost per name (their links up)."""

    def __init__(self, **hosts):
        self.hosts, self.link_ = hosts, FakeLink()

    def get(self, name):
        return self.hosts[name]

    def link(self, name):
        return self.link_


def test_a_moved_node_serves_on_its_new_host_before_the_old_container_goes(store, cases):
    store.register_hosts([Host("a", 4, 1.0, 256), Host("b", 4, 1.0, 256)])
    cases.pods.register(pod_spec(name="two", hosts=["a", "b"], max_nodes=4, cpus=0.25, memory_mb=64))
    cases.apps.deploy(app_spec(name="web", pod="two", port=8000, image="img", replicas=1))
    hosts = TwoHosts(a=FakeHost(images={"img"}, name="a"), b=FakeHost(images={"img"}, name="b"))
    haproxy = FakeHAProxy(backends={"app_web"})
    rec = {h: HostReconciler(h, store, hosts, haproxy, HealingPolicy(), WorkerSettings(), 2.0) for h in "ab"}
    (node,) = store.list_nodes("two")
    first = node.host
    other = "b" if first == "a" else "a"
    rec[first].reconcile_once()
    haproxy.check("app_web", "web-1", True)
    rec[first].reconcile_once()
    assert phases(store, "two") == {"web-1": "serving"}
    store.move_nodes("two", [dataclasses.replace(node, host=other, moved_from=first)])
    rec[other].reconcile_once()                                      # the new container starts there ...
    assert len(hosts.get(other).containers) == 1 and len(haproxy.show_servers()) == 2
    waiting = rec[first].reconcile_once()                            # ... while the old one keeps serving
    assert not waiting and waiting.wake_at is not None and len(hosts.get(first).containers) == 1
    haproxy.check("app_web", "web-1", True)
    rec[other].reconcile_once()
    assert store.get_observed("two", "web-1")["host"] == other
    retired = rec[first].reconcile_once()                            # serving there: the old one goes
    assert [action_kind(a) for a in retired.actions] == ["del_server", "stop_container", "remove_container"]
    assert hosts.get(first).containers == [] and len(haproxy.show_servers()) == 1
    assert phases(store, "two") == {"web-1": "serving"}              # the old host left the record alone
def test_observed_records_of_pods_that_are_gone_are_cleaned_up(rig, cases, store):
    """A pod removed by an older version left its nodes' observed records: the
    first pass of any reconciler deletes them (a pod removed now takes them
    along in its own transaction: tests/store_contract.py)."""
    rec, _, _, _ = rig
    serving(rig, cases, 1)
    store._commit({"observed/gone/gone-1": {"phase": "serving"}, "observed/gone/gone-2": {"phase": "failed"}})
    fresh = HostReconciler("pod-tiny", store, rig[3], rig[2], HealingPolicy(), WorkerSettings(), 2.0,
                           telemetry=Telemetry())                     # a restarted manager's first pass
    fresh.reconcile_once()
    assert set(store.list_observed()) == {("tiny", "web-1")}


def test_warm_nodes_are_added_in_drain_and_a_promotion_runs_before_any_container_start(store, cases):
    """With one step at a time on the host, the promoted warm node's state change is
    not queued behind a new node's container start (a scale past the pool: web-9 is
    promoted, web-10 is added; web-10's chain sorts before web-9's)."""
    store.register_hosts([Host("pod-tiny", 10, 2.5, 640)])
    cases.pods.register(pod_spec(name="tiny", host="pod-tiny", max_nodes=10, cpus=0.25, memory_mb=64))
    cases.apps.deploy(app_spec(name="web", pod="tiny", port=8000, image="img", replicas=8, warm=1))
    host, haproxy = FakeHost(images={"img"}), FakeHAProxy(backends={"app_web"})
    rec = HostReconciler("pod-tiny", store, FakeHosts(host), haproxy, HealingPolicy(),
                         WorkerSettings(host_parallelism=1), 2.0, telemetry=Telemetry())
    rec.reconcile_once()
    for i in range(1, 10):
        haproxy.check("app_web", f"web-{i}", True)
    rec.reconcile_once()
    assert phases(store)["web-9"] == "warm" and phases(store)["web-1"] == "serving"
    assert [s.admin for s in haproxy.show_servers() if s.name.startswith("web-9.")] == ["drain"]
    haproxy.calls.clear()
    cases.apps.scale("web", 10)                     # promotes web-9, adds web-10 (the refill comes later)
    plan = rec.reconcile_once()
    assert list(plan.chains) == ["tiny/web-10", "tiny/web-9"]
    assert haproxy.calls[0] == ("ready", next(f"app_web/{s.name}" for s in haproxy.show_servers()
                                              if s.name.startswith("web-9.")))
