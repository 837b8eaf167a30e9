"""A pod of two hosts, end to end: the local dockerd ("pool-a") and the spare
dockerd in its own network namespace, routed like a lab host ("pool-b",
fixtures_pools.py); real etcd, real HAProxy, the whole controller
(reconcilers, placer) as server.build_controller makes it.

* nodes spread over both hosts;
* a frozen host (its workers paused, its engine stopped): after the grace
  its nodes serve on the other host, and when it thaws its stale containers
  are removed, never serving again;
* a drain under an open-loop GET load through HAProxy: no failed request,
  then the host leaves the pod (a spare again).
"""
from __future__ import annotations

import json
import threading
from collections import Counter

import etcd3
import pytest

from orchestrator.core.model import App, Host, Pod
from orchestrator.edges.hostpool import HostPool
from orchestrator.server import build_controller
from orchestrator.usecases import UseCases

from .fixtures_cluster import nodes_through
from .fixtures_edges import DOCKER_URL, wait_until
from .openloop import Load

pytestmark = pytest.mark.integration

GRACE = 3.0
HOSTS = [Host("pool-a", 4, 1.0, 512), Host("pool-b", 4, 1.0, 512)]
POD = Pod("pool", ("pool-a", "pool-b"), 4, 0.25, 128)
APP = App(name="pool", pod="pool", port=8000, image="simplecloud/light", path="/light", health_path="/health")


class Pools:
    def __init__(self, store, haproxy, cases, pool, second):
        self.store, self.haproxy, self.cases, self.pool, self.second = store, haproxy, cases, pool, second

    def placed(self) -> Counter:
        """How many nodes are placed on each host."""
        return Counter(n.host for n in self.store.list_nodes("pool"))

    def serving(self) -> dict[str, str]:
        """node → the host it serves from (its observed record), for the nodes that serve."""
        nodes = {n.name: n for n in self.store.list_nodes("pool")}
        return {name: view["host"] for (pod, name), view in self.store.list_observed().items()
                if pod == "pool" and name in nodes and view.get("phase") == "serving"
                and view.get("host") == nodes[name].host and view.get("node_created") == nodes[name].created}

    def servers(self) -> Counter:
        """node → how many servers it has in HAProxy (2 would be a node served from two places)."""
        return Counter(s.name.split(".")[0] for s in self.haproxy.driver.show_servers()
                       if s.backend == "app_pool")

    def containers(self, host: str) -> list:
        docker = self.pool.get(host)
        return [c for c in docker.list_workers() if c.pod == "pool"]

    def all_serve(self, count: int, on: set[str]) -> bool:
        serving, servers = self.serving(), self.servers()
        return (len(serving) == count and set(serving.values()) <= on
                and sorted(servers.values()) == [1] * count
                and all(s.healthy for s in self.haproxy.driver.show_servers() if s.backend == "app_pool"))


@pytest.fixture
def pools(store, haproxy_proc, test_labels, worker_images, second_host):
    settings = haproxy_proc.settings.updated(
        docker_hosts={"pool-a": DOCKER_URL, "pool-b": second_host.url}, link_ping_interval=0.3,
        link_ping_timeout=0.5, link_ping_failures=2, reconcile_interval=1.0, start_timeout=10.0,
        host_grace=GRACE)
    haproxy_proc.driver.settings = settings.haproxy
    pool = HostPool(settings.links, extra_labels=test_labels)
    store.register_hosts(HOSTS)
    store.put_pod(POD, create=True)
    store.put_app(APP, create=True)
    controller = build_controller(store, pool, haproxy_proc.driver, settings)
    stop = threading.Event()
    controller.start(stop)
    try:
        yield Pools(store, haproxy_proc, UseCases.over(store), pool, second_host)
    finally:
        second_host.thaw()
        stop.set()
        controller.join(30)
        for host in ("pool-a", "pool-b"):
            docker = pool.get(host)
            for c in docker.list_workers():
                docker.remove(c.name)
        pool.close()


def test_nodes_spread_over_both_hosts_and_a_frozen_hosts_nodes_move(pools):
    p = pools
    p.cases.apps.scale("pool", 4)
    assert p.placed() == {"pool-a": 2, "pool-b": 2}                 # by free capacity, spread
    wait_until(lambda: p.all_serve(4, {"pool-a", "pool-b"}), 90, what="4 nodes serving on two hosts")
    assert len(p.containers("pool-a")) == len(p.containers("pool-b")) == 2

    p.second.freeze()
    wait_until(lambda: p.placed() == {"pool-a": 4}, 30, what="the frozen host's nodes to move")
    moved = [e.message for e in p.store.events(100) if e.kind == "node.moved"]
    assert len(moved) == 2 and all(m.endswith(f"host pool-b has been unreachable for longer than {GRACE:g} s")
                                   and "from pool-b to pool-a" in m for m in moved)
    wait_until(lambda: p.all_serve(4, {"pool-a"}), 60, what="all 4 nodes serving on pool-a")
    assert len(nodes_through(p.haproxy.url, 12)) == 4                 # every request answered, by all four

    p.second.thaw()                                                  # its stale containers go before they serve
    most: dict[str, int] = {}                                        # the most servers seen for each node

    def settled(check):
        for node, count in p.servers().items():
            most[node] = max(most.get(node, 0), count)
        return check()
    wait_until(lambda: settled(lambda: p.store.list_link_states().get("pool-b", {}).get("reachable")), 30,
               what="pool-b back")
    wait_until(lambda: settled(lambda: p.containers("pool-b") == []), 30, what="pool-b's stale containers removed")
    # the four still serve from pool-a (a health check may lag on a loaded machine: waited for, bounded)
    wait_until(lambda: settled(lambda: p.all_serve(4, {"pool-a"})), 30, what="all 4 nodes serving on pool-a")
    assert p.placed() == {"pool-a": 4} and len(nodes_through(p.haproxy.url, 12)) == 4
    assert set(most.values()) == {1}, most                          # never served from two places


def test_a_drain_under_load_fails_no_request_and_the_host_becomes_a_spare(pools):
    p = pools
    p.cases.apps.scale("pool", 4)
    wait_until(lambda: p.all_serve(4, {"pool-a", "pool-b"}), 90, what="4 nodes serving on two hosts")
    with Load(p.haproxy.url + "/light", rate=25, limit_s=90) as load:
        p.cases.pools.drain("pool-b")
        wait_until(lambda: p.placed() == {"pool-a": 4} and p.all_serve(4, {"pool-a"})
                   and p.containers("pool-b") == [], 60, what="pool-b drained")
    assert len(load.statuses) > 25 and load.failed == [], f"{len(load.failed)} of {len(load.statuses)} failed"
    kinds = [e.kind for e in p.store.events(100)]
    assert "host.draining" in kinds and "host.drained" in kinds
    view = p.cases.pools.remove("pool-b")
    assert view["spare"] and view["pods"] == [] and not view["draining"]
    assert p.store.get_pod("pool").hosts == ("pool-a",)


def test_a_link_state_under_hosts_from_before_pools_is_skipped_then_replaced(store, etcd_endpoint):
    raw = etcd3.client(*etcd_endpoint, timeout=5)
    try:
        raw.put(store.prefix + "hosts/pod-old", json.dumps({"reachable": True, "since": 1.0, "error": ""}))
        assert store.list_hosts() == [] and store.get_host("pod-old") is None
        assert store.register_hosts([Host("pod-old", 4, 1.0, 512)]) == ["pod-old"]
        assert store.list_hosts() == [Host("pod-old", 4, 1.0, 512)]
        assert not [e for e in store.events(20) if e.kind == "store.corrupt"]      # not damaged: older
    finally:
        raw.close()
