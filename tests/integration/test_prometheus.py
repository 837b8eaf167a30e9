"""GET /metrics of a real manager: the controller running against real etcd,
HAProxy and workers on the local dockerd, the web app built by create_app
with that controller, every answer parsed with prometheus_client's parser.
Also HAProxy's own exporter (the stats listener's /metrics), and a scrape
while etcd is frozen or gone (it answers, with the last figures).

The app scaled here lives in a pod named after this test run, so its
containers' names cannot clash with those of another run of the shared
``ctl`` pod on the same dockerd."""
from __future__ import annotations

import collections
import os
import signal
import threading

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.api import create_app
from orchestrator.core.model import App, Pod
from orchestrator.edges.hostpool import HostPool
from orchestrator.edges.store import Store
from orchestrator.observe.telemetry import CONTENT_TYPE
from orchestrator.server import build_controller
from orchestrator.usecases import UseCases
from tests.bodies import policy

from .fixtures_edges import free_port, wait_until
from .fixtures_etcd import etcd_process

pytestmark = pytest.mark.integration

TOKEN = "prometheus-test-token"


class Scraper:
    """GET /metrics through the Flask test client of a manager's web app."""

    def __init__(self, app):
        self.client = app.test_client()
        self.text = ""

    def __call__(self) -> list:
        """Every sample (name, labels, value) of the exposition."""
        answer = self.client.get("/metrics")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert answer.headers["Content-Type"] == CONTENT_TYPE
        self.text = answer.get_data(as_text=True)
        return parse(self.text)


def parse(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples, name: str, **labels) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def series(samples, name: str, *keys: str) -> dict[tuple, float]:
    """The samples named ``name``, keyed by the values of the labels ``keys``."""
    return {tuple(s.labels[k] for k in keys): s.value for s in samples if s.name == name}


def serving(c, app: str, n: int) -> bool:
    """Exactly ``n`` servers of the app in HAProxy, all ready and healthy."""
    have = [s for s in c.hap.driver.show_servers() if s.backend == f"app_{app}"]
    return len(have) == n and all(s.healthy and s.admin == "ready" for s in have)


@pytest.fixture
def manager(cluster, tmp_path, test_labels):
    """The cluster's controller running (with the autoscaler), the web app
    create_app builds over it, as server.py does, and the name of a pod and
    app of this run's own (4 light nodes on pod-test, at /<name>)."""
    c = cluster
    name = "m" + test_labels["simplecloud.testrun"]
    c.store.put_pod(Pod(name, ("pod-test",), max_nodes=4, cpus=0.25, memory_mb=128), create=True)
    c.store.put_app(App(name=name, pod=name, port=8000, image="simplecloud/light", path=f"/{name}",
                        strip_path=True, health_path="/health"), create=True)
    settings = c.settings.updated(decision_interval=1.0, metrics_interval=0.5, waker_port=free_port())
    c.hap.driver.waker_port = settings.autoscale.waker_port
    cases = UseCases.over(c.store, c.pool)
    controller = build_controller(c.store, c.pool, c.hap.driver, settings, scaler=cases.apps)
    stop = threading.Event()
    controller.start(stop)
    yield c, cases, Scraper(create_app(cases, token=TOKEN, controller=controller)), name
    stop.set()
    assert controller.join(20)


def test_metrics_follow_the_controller(manager):
    c, cases, scrape, app = manager
    store = c.store

    def passes():
        return total(scrape(), "simplecloud_reconcile_passes_total", host="pod-test")

    first = wait_until(passes, 20, what="a reconcile pass of pod-test to be counted")
    wait_until(lambda: passes() > first, 20, what="the pass count to grow")
    m = wait_until(lambda: (lambda m: total(m, "simplecloud_host_link_up", host="pod-test") == 1 and m)(scrape()),
                   20, what="the link to pod-test to show up")
    assert series(m, "simplecloud_controller_running") == {(): 1}
    assert series(m, "simplecloud_host_link_rtt_seconds", "host")[("pod-test",)] > 0
    assert total(m, "simplecloud_host_link_changes_total", host="pod-test", state="up") >= 1
    assert total(m, "simplecloud_reconcile_duration_seconds_count", host="pod-test") >= 1
    assert series(m, "simplecloud_store_up") == {(): 1}

    cases.apps.scale(app, 2)
    wait_until(lambda: serving(c, app, 2), 40, what="two nodes to serve")

    def in_step_with_the_store():
        m = scrape()
        desired = collections.Counter((n.pod, n.app, n.status.value) for n in store.list_nodes())
        phases = collections.Counter((n.pod, n.app, (store.get_observed(n.pod, n.name) or {}).get("phase"))
                                     for n in store.list_nodes())
        ok = (series(m, "simplecloud_nodes", "pod", "app", "status") == dict(desired)
              and series(m, "simplecloud_nodes_observed", "pod", "app", "phase") == dict(phases)
              == {(app, app, "serving"): 2})
        return ok and m
    m = wait_until(in_step_with_the_store, 20, what="the node series to match the store")
    assert series(m, "simplecloud_nodes", "pod", "app", "status") == {(app, app, "ONLINE"): 2}
    for kind in ("create_container", "start_container", "add_server"):
        assert total(m, "simplecloud_actions_total", host="pod-test", kind=kind, outcome="ok") >= 2, kind
    # a failed step (e.g. a name clash with another run's container on this shared
    # dockerd) is counted, and so is the pass it failed in
    failed = total(m, "simplecloud_actions_total", outcome="failed")
    assert (failed > 0) == (total(m, "simplecloud_reconcile_passes_total", outcome="step_failed") > 0)
    assert total(m, "simplecloud_action_duration_seconds_count", kind="start_container") >= 2
    assert total(m, "simplecloud_reconcile_passes_total", host="pod-test", outcome="acted") >= 1
    assert total(m, "simplecloud_host_call_duration_seconds_count", host="pod-test", call="list_workers") >= 1
    assert series(m, "simplecloud_pod_capacity_nodes", "pod") == {("ctl",): 6, (app,): 4}

    cases.autoscaling.set(app, policy(min=2, max=3, rps=50))
    m = wait_until(lambda: (lambda m: total(m, "simplecloud_autoscale_decisions_total", app=app) >= 1 and m)(
        scrape()), 20, what="an autoscale decision to be counted")
    wait_until(lambda: series(scrape(), "simplecloud_autoscale_desired_replicas", "app") == {(app,): 2}, 20,
               what="the decided replicas to show")
    m = scrape()
    assert series(m, "simplecloud_autoscale_min_replicas", "app") == {(app,): 2}
    assert series(m, "simplecloud_autoscale_max_replicas", "app") == {(app,): 3}
    assert total(m, "simplecloud_autoscale_decisions_total", app=app, direction="down") == 0
    assert series(m, "simplecloud_app_serving_nodes", "app")[(app,)] == 2
    if os.environ.get("SIMPLECLOUD_METRICS_SAMPLE"):     # docs/metrics.md's sample scrape
        with open(os.environ["SIMPLECLOUD_METRICS_SAMPLE"], "w") as fh:
            fh.write(scrape.text)


def test_haproxy_exports_the_backends_figures(manager):
    c, cases, _, app = manager
    if not c.hap.driver.prometheus_supported():
        pytest.fail("this HAProxy has no Prometheus exporter (haproxy -vv); the lab's Debian build has it")
    cases.apps.scale(app, 1)
    wait_until(lambda: serving(c, app, 1), 40, what="a node to serve")
    for _ in range(5):
        assert requests.get(f"{c.hap.url}/{app}", timeout=10).status_code == 200
    answer = requests.get(f"http://{c.hap.settings.haproxy.stats_bind}/metrics", timeout=10)
    assert answer.status_code == 200
    samples = parse(answer.text)
    assert total(samples, "haproxy_backend_http_requests_total", proxy=f"app_{app}") >= 5
    assert total(samples, "haproxy_backend_active_servers", proxy=f"app_{app}") == 1


def test_a_scrape_while_etcd_is_frozen_or_gone_still_answers(haproxy_proc, test_labels, tmp_path):
    with etcd_process() as (host, port, proc):
        store = Store(host=host, port=port, prefix="/sctest-metrics/")
        settings = haproxy_proc.settings
        pool = HostPool(settings.links, extra_labels=test_labels)
        try:
            cases = UseCases.over(store, pool)
            cases.cluster.init()
            controller = build_controller(store, pool, haproxy_proc.driver, settings)   # not started
            scrape = Scraper(create_app(cases, token=TOKEN, controller=controller))
            m = scrape()
            assert series(m, "simplecloud_store_up") == {(): 1}
            assert series(m, "simplecloud_pod_capacity_nodes", "pod") == {("light",): 20, ("medium",): 15,
                                                                          ("heavy",): 10}
            assert series(m, "simplecloud_controller_running") == {(): 0}
            proc.send_signal(signal.SIGSTOP)             # etcd frozen: reads hang
            try:
                wait_until(lambda: series(scrape(), "simplecloud_store_up") == {(): 0}, 20,
                           what="a scrape to give up on the frozen etcd")
                m = scrape()
                assert series(m, "simplecloud_pod_capacity_nodes", "pod")[("heavy",)] == 10   # the last figures
            finally:
                proc.send_signal(signal.SIGCONT)
            wait_until(lambda: series(scrape(), "simplecloud_store_up") == {(): 1}, 20,
                       what="the scrape to read etcd again")
            proc.kill()                                  # etcd gone: refused at once
            proc.wait()
            wait_until(lambda: series(scrape(), "simplecloud_store_up") == {(): 0}, 20,
                       what="a scrape to say etcd is gone")
            assert series(scrape(), "simplecloud_pod_capacity_nodes", "pod")[("light",)] == 20
        finally:
            pool.close()
            store.close()
