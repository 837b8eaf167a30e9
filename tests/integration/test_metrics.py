"""The autoscaler's metrics read from a real HAProxy and a real dockerd.

One HAProxy (jailed, unprivileged workers, as in the lab) routes to real job
workers (simplecloud/light and simplecloud/heavy) and to a stub server that
holds requests until told; it sends its request log to the sampler's UDP
receiver. Apps and pods are in a real etcd; CPU is read from the workers'
cgroups through a real DockerHost on a unix:// link (host commands run here).

The client load is small and bounded (a known number of requests), and the
checks compare what the sampler says with what the client sent and saw:
never how fast anything was.
"""
from __future__ import annotations

import dataclasses
import http.server
import os
import socket
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest
import requests

from orchestrator.control.sampler import Sampler
from orchestrator.core.model import App, Pod
from orchestrator.core.naming import server_name
from orchestrator.edges.docker_host import DockerHost
from orchestrator.edges.haproxy import HAProxy
from orchestrator.edges.hostpool import HostPool

from .fixtures_edges import DOCKER_URL, wait_until

pytestmark = pytest.mark.integration

HOST = "pod-test"
PODS = (Pod("mlight", (HOST,), 20, 0.25, 128), Pod("mheavy", (HOST,), 10, 1.0, 512))
LIGHT = App(name="light", pod="mlight", port=8000, image="simplecloud/light", path="/light",
            health_path="/health")
HEAVY = App(name="heavy", pod="mheavy", port=8000, image="simplecloud/heavy", path="/heavy",
            health_path="/health")
SPARE = App(name="spare", pod="mheavy", port=8000, image="simplecloud/heavy", path="/spare",
            health_path="/health")                      # a heavy worker nobody asks anything
HOLD = App(name="hold", pod="mlight", port=8000, image="stub", path="/hold")   # not in etcd
WORKERS = {"l1": (LIGHT, "mlight"), "l2": (LIGHT, "mlight"), "h1": (HEAVY, "mheavy"),
           "s1": (SPARE, "mheavy")}


@pytest.fixture(scope="module")
def workers(test_network, test_labels, worker_images):
    """The job workers, running and answering: {node: (app, container id, ip)}."""
    host = DockerHost(DOCKER_URL, test_network, name=HOST, extra_labels=test_labels)
    made = {}
    try:
        for node, (app, pod) in WORKERS.items():
            size = next(p for p in PODS if p.name == pod)
            c = host.create_worker(pod, node, app.name, app.image, None, 8000, size.cpus,
                                   size.memory_mb, gen="t")
            started = host.start(c.name)
            made[node] = (app, started.id, started.ip, c.name)
        for app, _, ip, _ in made.values():
            wait_until(lambda: requests.get(f"http://{ip}:8000/health", timeout=1).ok, 20,
                       what=f"{app.name} worker at {ip}")
        yield {node: (app, cid, ip) for node, (app, cid, ip, _) in made.items()}
    finally:
        for *_, name in made.values():
            host.remove(name)
        host.close()


class Holder:
    """A stub backend: each GET waits until ``release`` (or 30 s), then answers."""

    def __init__(self):
        self.release = threading.Event()
        self.arrivals: list[float] = []
        self.lock = threading.Lock()
        holder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with holder.lock:
                    holder.arrivals.append(time.monotonic())
                holder.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def arrived(self) -> int:
        with self.lock:
            return len(self.arrivals)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def rig(haproxy_proc, store, workers, test_labels):
    """HAProxy with the four apps and their servers, logging to a fresh sampler."""
    for pod in PODS:
        store.put_pod(pod, create=True)
    for app in (LIGHT, HEAVY, SPARE):
        store.put_app(app, create=True)
    holder = Holder()
    hosts = HostPool(haproxy_proc.settings.links, extra_labels=test_labels)
    sampler = Sampler(store, haproxy_proc.driver, hosts, haproxy_proc.settings.intervals.metrics_interval)
    try:
        port = sampler.listen(0)
        driver = HAProxy(dataclasses.replace(haproxy_proc.settings.haproxy, haproxy_log_port=port))
        driver.apply_config([LIGHT, HEAVY, SPARE, HOLD], {})
        for node, (app, cid, ip) in workers.items():
            driver.add_server(f"app_{app.name}", server_name(node, cid), ip, 8000)
        driver.add_server("app_hold", "hold-1", "127.0.0.1", holder.port)
        wait_until(lambda: all(s.healthy for s in driver.show_servers()), 15,
                   what="every server healthy")
        yield SimpleNamespace(hap=haproxy_proc, driver=driver, sampler=sampler, holder=holder,
                              url=haproxy_proc.url)
    finally:
        sampler.close()
        holder.close()
        hosts.close()


def logged(sampler, backend: str, since: float) -> int:
    return sampler.latency.p95(backend, since=since)[1]


def send(url: str, n: int, rate: float) -> list[float]:
    """``n`` GETs one after the other, started at most ``rate`` per second;
    returns each one's latency as the client saw it (s)."""
    latencies = []
    with requests.Session() as session:
        start = time.monotonic()
        for i in range(n):
            pause = start + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)                     # the load's shape, not a wait for anything
            began = time.monotonic()
            assert session.get(url, timeout=10).status_code == 200
            latencies.append(time.monotonic() - began)
    return latencies


def test_requests_rate_and_p95_match_what_was_sent(rig):
    sampler, n = rig.sampler, 40
    baseline = sampler.sample()
    sent_at = time.monotonic()
    latencies = []
    for _ in range(4):
        latencies += send(rig.url + "/light", n // 4, rate=20.0)
        sampler.sample()
    sent_for = time.monotonic() - sent_at
    final = sampler.sample()
    wait_until(lambda: logged(sampler, "app_light", baseline.time) >= n, 10,
               what="HAProxy's log lines of every request")

    s = sampler.window("light", seconds=sampler.clock() - baseline.time + 0.5, desired=3)
    assert s.requests == n
    assert s.rps == pytest.approx(n / (final.time - baseline.time))
    assert 0 < s.rps <= n / sent_for                  # the readings straddle the requests
    assert 0 <= s.inflight <= 1                       # one request at a time
    assert (s.serving, s.starting) == (2, 1)
    assert logged(sampler, "app_light", baseline.time) == n
    assert 0 <= s.p95_ms <= max(latencies) * 1000 + 1   # HAProxy's time is inside the client's
    assert s.cpu is not None and s.cpu >= 0
    # the log came from HAProxy's workers, jailed and unprivileged as in the lab
    pids = subprocess.run(["pgrep", "-u", rig.hap.settings.haproxy.haproxy_user, "-P", str(rig.hap.proc.pid)],
                          capture_output=True, text=True).stdout.split()
    assert pids and all(os.readlink(f"/proc/{pid}/root") == rig.hap.settings.haproxy.haproxy_chroot
                        for pid in pids)


def test_a_reload_resets_the_counter_without_a_negative_or_huge_rate(rig):
    sampler = rig.sampler
    baseline = sampler.sample()
    send(rig.url + "/light", 30, rate=50.0)
    before = sampler.sample()
    assert before.backends["app_light"].req_tot >= 30
    other = App(name="other", pod="mlight", port=8000, image="x", path="/other")
    assert rig.driver.apply_config([LIGHT, HEAVY, SPARE, HOLD, other]) is True   # new worker
    wait_until(lambda: len(rig.driver.backend_stats()["app_light"].up) == 2, 15,
               what="the light servers up in the new worker")
    send(rig.url + "/light", 10, rate=50.0)
    after = sampler.sample()
    assert after.backends["app_light"].req_tot == 10      # the new worker counts from 0
    s = sampler.window("light", seconds=sampler.clock() - baseline.time + 0.5, desired=2)
    assert s.requests == 30 + 10
    assert s.rps == pytest.approx(40 / (after.time - baseline.time))


def test_inflight_and_p95_of_requests_held_in_progress(rig):
    sampler, holder, k = rig.sampler, rig.holder, 3
    baseline = sampler.sample()
    answers = []
    clients = [threading.Thread(target=lambda: answers.append(
        requests.get(rig.url + "/hold", timeout=20).status_code)) for _ in range(k)]
    for c in clients:
        c.start()
    try:
        wait_until(lambda: holder.arrived() == k, 10, what="the held requests at the stub")
        during = sampler.sample()
        assert during.backends["app_hold"].inflight == k
    finally:
        holder.release.set()
        released = time.monotonic()
        for c in clients:
            c.join(timeout=20)
    assert answers == [200] * k
    held_ms = (released - min(holder.arrivals)) * 1000
    wait_until(lambda: logged(sampler, "app_hold", baseline.time) == k, 10,
               what="HAProxy's log lines of the held requests")
    s = sampler.window("hold", seconds=sampler.clock() - baseline.time + 0.5, desired=1)
    assert s.inflight == pytest.approx(k / 2)           # 0 in the baseline, k while held
    assert s.p95_ms >= held_ms - 1                      # the longest-held request
    assert s.cpu is None                                # no container: CPU unknown, not 0


def test_cpu_of_a_busy_heavy_node_and_an_idle_one(rig):
    sampler = rig.sampler
    done, stop = [], threading.Event()

    def busy():
        with requests.Session() as session:
            while not stop.is_set():
                assert session.get(rig.url + "/heavy", timeout=60).status_code == 200
                done.append(time.monotonic())

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        first = sampler.sample()
        # two heavy requests finished after it: at least one ran wholly between the readings
        wait_until(lambda: sum(t > first.time for t in done) >= 2, 120,
                   what="two heavy requests done")
        second = sampler.sample()
    finally:
        stop.set()
        worker.join(timeout=120)
    assert second.cpu["app_heavy"] > 5.0                # busy: a good share of its 1.0 CPU
    assert second.cpu["app_spare"] < 3.0                # idle: health checks only
    heavy = sampler.window("heavy", seconds=sampler.clock() - first.time + 0.5, desired=1)
    assert heavy.cpu == pytest.approx(second.cpu["app_heavy"])
    assert (heavy.serving, heavy.starting) == (1, 0)


def test_the_sampling_thread_feeds_figures(rig):
    sampler = rig.sampler
    sampler.interval = 0.2
    sampler.start()
    wait_until(sampler.readings, 10, what="a first reading")   # the requests come after it
    send(rig.url + "/light", 12, rate=50.0)
    figures = wait_until(lambda: sampler.figures(seconds=30.0).get("light", {}).get("requests") == 12
                         and sampler.figures(seconds=30.0)["light"], 15,
                         what="the sampling thread to count the requests")
    assert figures["logged"] == 12 and figures["serving"] == 2 and figures["p95_ms"] is not None
    assert set(sampler.figures(seconds=30.0)) == {"light", "heavy", "spare", "hold"}


def test_the_request_log_hears_only_the_local_haproxy(store):
    """The receiver is bound to 127.0.0.1 and drops what another address sends
    (a process on the lab network, or one that bound 127.0.0.2 to pass for local)."""
    sampler = Sampler(store, None, {}, 1.0)
    try:
        port = sampler.listen(0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.bind(("127.0.0.2", 0))
            for _ in range(5):
                other.sendto(b"app_web 30 200 0\n", ("127.0.0.1", port))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as local:
            local.sendto(b"app_web 40 200 0\n", ("127.0.0.1", port))
        receiver = sampler._receiver
        wait_until(lambda: receiver.received + receiver.foreign == 6, 5, what="six datagrams taken")
        assert (receiver.received, receiver.foreign) == (1, 5)
        assert sampler.latency.p95("app_web", since=0) == (40.0, 1)
    finally:
        sampler.close()
