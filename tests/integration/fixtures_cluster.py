"""A small cluster for controller tests: real etcd, real HAProxy, the local
dockerd as host "pod-test" (registered), pod and app "ctl" (the light job), an HAProxy sync
and a host reconciler ready to run (``running``: the whole controller, with the
autoscaler and the waker, running on it), and helpers to look at the result."""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass

import pytest
import requests

from orchestrator.control.haproxy_sync import HAProxySync
from orchestrator.control.reconciler import HostReconciler
from orchestrator.core.model import App, Host, Pod
from orchestrator.edges.hostpool import HostPool
from orchestrator.server import build_controller
from orchestrator.usecases import UseCases

from .fixtures_edges import DOCKER_URL, free_port

HOST = Host("pod-test", 8, 2.0, 1024)
POD = Pod("ctl", ("pod-test",), max_nodes=6, cpus=0.25, memory_mb=128, app="ctl")
APP = App(name="ctl", pod="ctl", port=8000, image="simplecloud/light", path="/light",
          health_path="/health")


@dataclass
class Cluster:
    rec: HostReconciler
    haproxy_sync: HAProxySync
    hap: object
    pool: HostPool
    settings: object
    store: object

    def containers(self, docker_client, node=None, all_=True):
        filters = {"label": ["simplecloud.pod=ctl"] + ([f"simplecloud.node={node}"] if node else [])}
        return [c for c in docker_client.containers.list(all=all_, filters=filters, ignore_removed=True)
                if c.labels.get("simplecloud.testrun") == self.pool.extra_labels["simplecloud.testrun"]]


@pytest.fixture
def cluster(store, haproxy_proc, test_labels, worker_images):
    settings = haproxy_proc.settings.updated(docker_hosts={
        "*": DOCKER_URL, "pod-gone": "unix:///nonexistent/docker.sock"},
        link_ping_interval=0.3, reconcile_interval=1.0, start_timeout=8.0, backoff_max=4.0)
    haproxy_proc.driver.settings = settings.haproxy
    pool = HostPool(settings.links, extra_labels=test_labels)
    store.register_hosts([HOST])
    store.put_pod(POD, create=True)
    store.put_app(APP, create=True)
    sync = HAProxySync(store, haproxy_proc.driver, settings.intervals, wake_hosts=lambda: None,
                    log=logging.getLogger("test.haproxy_sync"))
    sync.sync_config()
    rec = reconciler("pod-test", store, pool, haproxy_proc.driver, settings,
                         logging.getLogger("test.reconciler"))
    yield Cluster(rec, sync, haproxy_proc, pool, settings, store)
    host = pool.get("pod-test")
    for c in host.list_workers():
        host.remove(c.name)
    pool.close()


@pytest.fixture
def running(cluster):
    """The cluster's controller running with the autoscaler and the waker."""
    c = cluster
    settings = c.settings.updated(decision_interval=1.0, metrics_interval=0.5, waker_port=free_port(),
                                  start_timeout=20.0)
    c.hap.driver.waker_port = settings.autoscale.waker_port
    controller = build_controller(c.store, c.pool, c.hap.driver, settings,
                                  scaler=UseCases.over(c.store, c.pool).apps)
    stop = threading.Event()
    controller.start(stop)
    yield c
    stop.set()
    assert controller.join(20)


def reconciler(host: str, store, pool, driver, settings, log=None) -> HostReconciler:
    """A reconciler of ``host`` handed its settings as server.py hands them."""
    return HostReconciler(host, store, pool, driver, settings.healing, settings.workers,
                          settings.intervals.reconcile_interval, log)


def servers(c: Cluster) -> dict:
    """node name → its HAProxy server(s) in app_ctl."""
    out = {}
    for s in c.hap.driver.show_servers():
        if s.backend == "app_ctl":
            out.setdefault(s.name.split(".")[0], []).append(s)
    return out


def all_healthy(c: Cluster, nodes) -> bool:
    have = servers(c)
    return all(len(have.get(n, [])) == 1 and have[n][0].healthy and have[n][0].admin == "ready"
               for n in nodes)


def nodes_through(url: str, n: int = 8) -> collections.Counter:
    seen = collections.Counter()
    for _ in range(n):
        r = requests.get(url + "/light", timeout=5)
        assert r.status_code == 200, r.text
        seen[r.json()["node"]] += 1
    return seen


def converge(c: Cluster, until=None, timeout: float = 40, what: str = "convergence"):
    """Passes until one plans nothing and ``until()`` holds; returns every step taken."""
    taken, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        c.haproxy_sync.sync_config()
        result = c.rec.reconcile_once()
        if result:
            taken += result.actions
        elif until is None or until():
            return taken
        time.sleep(0.2)
    pytest.fail(f"no {what} within {timeout}s; last plan: {c.rec.last_plan}; failures: {c.rec.last_failures}")
