"""The reconcile controller end to end: real etcd, real HAProxy, the local dockerd.

Desired state is written straight into the store (as the service layer
would), then the controller is run and the real world is checked: docker
containers, HAProxy servers, and requests through the 127.0.0.1 frontend.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import threading

import pytest
import requests

from orchestrator.control.reconciler import Reconciler
from orchestrator.edges.docker_host import HostPool
from orchestrator.core.model import App, Node, NodeStatus, Pod
from orchestrator.core.plan import DelServer, MarkNode

from .fixtures_edges import DOCKER_URL, wait_until

pytestmark = pytest.mark.integration

POD = Pod("ctl", "pod-test", max_nodes=5, cpus=0.25, memory_mb=128, app="ctl")
APP = App(name="ctl", pod="ctl", port=8000, image="simplecloud/light", path="/light",
          health_path="/health")


@pytest.fixture
def cluster(store, haproxy_proc, test_labels, worker_images):
    """A Reconciler over the test store, HAProxy and dockerd, with one pod and app."""
    settings = dataclasses.replace(haproxy_proc.settings, docker_hosts={
        "*": DOCKER_URL, "pod-gone": "unix:///nonexistent/docker.sock"})
    haproxy_proc.driver.settings = settings
    pool = HostPool(settings, extra_labels=test_labels)
    store.put_pod(POD, create=True)
    store.put_app(APP, create=True)
    rec = Reconciler(store, pool, haproxy_proc.driver, settings, logging.getLogger("test.controller"))
    yield rec, haproxy_proc
    for host in ("pod-test",):
        for c in pool.get(host).list_workers():
            pool.get(host).remove(c.name)
    pool.close()


def converge(rec: Reconciler, max_passes: int = 8) -> list:
    """Run passes until one plans nothing; return every action taken."""
    taken = []
    for _ in range(max_passes):
        actions = rec.reconcile_once()
        if not actions:
            return taken
        assert not rec.last_failures, rec.last_failures
        taken += actions
    pytest.fail(f"no convergence after {max_passes} passes; last plan: {actions}")


def nodes_through(url: str, n: int = 8) -> collections.Counter:
    seen = collections.Counter()
    for _ in range(n):
        r = requests.get(url + "/light", timeout=5)
        assert r.status_code == 200, r.text
        seen[r.json()["node"]] += 1
    return seen


def state(docker_client, name):
    return docker_client.containers.get(name).status


def servers(hap):
    return {s.name: s for s in hap.driver.show_servers() if s.backend == "app_ctl"}


def set_status(store, name, status):
    store.update_node(dataclasses.replace(store.get_node("ctl", name), status=status))


def test_controller_end_to_end(cluster, store, docker_client):
    rec, hap = cluster
    store.add_nodes("ctl", [Node("n1", "ctl", "ctl", NodeStatus.ONLINE, created=1.0),
                            Node("n2", "ctl", "ctl", NodeStatus.ONLINE, created=2.0),
                            Node("n3", "ctl", "ctl", NodeStatus.NEW, created=3.0)])

    # first reconcile: config reloaded, containers created/started, servers added
    converge(rec)
    assert [state(docker_client, f"sc-ctl-{n}") for n in ("n1", "n2", "n3")] == [
        "running", "running", "created"]
    assert {n: s.admin for n, s in servers(hap).items()} == {"n1": "ready", "n2": "ready"}
    wait_until(lambda: all(s.healthy for s in servers(hap).values()), 10, what="servers healthy")
    assert set(nodes_through(hap.url)) == {"n1", "n2"}
    assert store.get_observed("ctl", "n1")["container"] == "running"
    assert store.get_observed("ctl", "n3")["container"] == "created"
    assert rec.reconcile_once() == []                      # in sync: nothing planned

    # pause n2: drained then maint, still running; traffic only to n1
    set_status(store, "n2", NodeStatus.PAUSED)
    converge(rec)
    assert servers(hap)["n2"].admin == "maint"
    assert state(docker_client, "sc-ctl-n2") == "running"
    assert set(nodes_through(hap.url)) == {"n1"}

    # launch n3 (NEW → ONLINE): started and added
    set_status(store, "n3", NodeStatus.ONLINE)
    converge(rec)
    assert servers(hap)["n3"].admin == "ready"

    # kill n1's container: marked FAILED, recreated, ONLINE again, serving
    old_id = docker_client.containers.get("sc-ctl-n1").id
    docker_client.containers.get("sc-ctl-n1").kill()
    wait_until(lambda: state(docker_client, "sc-ctl-n1") == "exited", 10, what="n1 exited")
    taken = converge(rec)
    assert MarkNode("ctl", "n1", NodeStatus.FAILED, "container sc-ctl-n1 is exited") in taken
    assert docker_client.containers.get("sc-ctl-n1").id != old_id
    assert store.get_node("ctl", "n1").status == NodeStatus.ONLINE
    wait_until(lambda: servers(hap)["n1"].healthy, 10, what="recreated n1 healthy")
    assert "n1" in nodes_through(hap.url, 12)
    kinds = [e.kind for e in store.events(limit=200)]
    assert "node.failed" in kinds and "node.online" in kinds

    # remove n2's record: server deleted, container gone
    store.remove_nodes("ctl", ["n2"])
    taken = converge(rec)
    assert DelServer("app_ctl", "n2") in taken
    assert "n2" not in servers(hap)
    assert [c.name for c in docker_client.containers.list(all=True, filters={"name": "sc-ctl-n2"})] == []
    assert store.get_observed("ctl", "n2") is None

    # a second reconcile plans nothing
    assert rec.reconcile_once() == []


def test_unreachable_host_does_not_stop_the_others(cluster, store, docker_client):
    rec, hap = cluster
    store.put_pod(Pod("gone", "pod-gone", max_nodes=2, cpus=0.25, memory_mb=64), create=True)
    store.add_nodes("gone", [Node("g1", "gone", "ctl", NodeStatus.ONLINE)])
    store.add_nodes("ctl", [Node("n1", "ctl", "ctl", NodeStatus.ONLINE)])
    converge(rec)
    assert state(docker_client, "sc-ctl-n1") == "running"
    errors = [e for e in store.events(limit=100) if e.kind == "controller.error"]
    assert len(errors) == 1 and "pod-gone" in errors[0].message
    converge(rec)                                           # reported once, not every pass
    assert len([e for e in store.events(limit=100) if e.kind == "controller.error"]) == 1


def test_run_loop_wakes_on_change(cluster, store):
    rec, hap = cluster
    stop = threading.Event()
    thread = threading.Thread(target=rec.run, args=(stop,), daemon=True)
    thread.start()
    try:
        store.add_nodes("ctl", [Node("w1", "ctl", "ctl", NodeStatus.ONLINE)])
        wait_until(lambda: servers(hap).get("w1") and servers(hap)["w1"].admin == "ready", 30,
                   what="the loop to add w1's server")
        wait_until(lambda: servers(hap)["w1"].healthy, 10, what="w1 healthy")
        assert set(nodes_through(hap.url, 2)) == {"w1"}
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()


def test_failing_action_is_reported_and_others_proceed(cluster, store, docker_client):
    rec, hap = cluster
    bad = App(name="bad", pod="ctl", port=8000, image="simplecloud/does-not-exist", path="/bad")
    store.put_app(bad, create=True)
    store.add_nodes("ctl", [Node("b1", "ctl", "bad", NodeStatus.ONLINE, created=1.0),
                            Node("n1", "ctl", "ctl", NodeStatus.ONLINE, created=2.0)])
    for _ in range(3):
        rec.reconcile_once()
    assert state(docker_client, "sc-ctl-n1") == "running"
    assert servers(hap)["n1"].admin == "ready"
    failures = [msg for _, msg in rec.last_failures]
    assert len(failures) == 1 and "push it to the registry" in failures[0]
    # the start of b1 was skipped, not attempted after its create failed
    assert all("start container sc-ctl-b1" not in e.message for e in store.events(limit=100))
    assert any(e.kind == "controller.error" and e.subject == "ctl/b1" for e in store.events(limit=100))
