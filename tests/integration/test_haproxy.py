"""HAProxy driver against a real HAProxy and real worker containers."""
from __future__ import annotations

import collections
import dataclasses
import http.server
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from orchestrator.core import errors
from orchestrator.core.model import App
from orchestrator.edges.docker_host import DockerHost
from orchestrator.edges.haproxy import HAProxy, HAProxyError, add_server_steps

from .fixtures_edges import DOCKER_URL, wait_until
from .fixtures_etcd import free_port
from .lab_pki import make_pki

pytestmark = pytest.mark.integration

LIGHT = App(name="light", pod="light", port=8000, image="simplecloud/light",
            path="/light", health_path="/health")


@pytest.fixture(scope="module")
def workers(test_network, test_labels, worker_images):
    """Two running light job containers: {node: ip}."""
    host = DockerHost(DOCKER_URL, test_network, name="pod-test", extra_labels=test_labels)
    ips = {}
    for node in ("w1", "w2"):
        c = host.create_worker("hap", node, "light", worker_images["light"], None, 8000, 0.5, 128, gen="t")
        ips[node] = host.start(c.name).ip
    for ip in ips.values():
        wait_until(lambda: requests.get(f"http://{ip}:8000/health", timeout=1).ok, 15,
                   what=f"job server at {ip}")
    yield ips
    for node in ips:
        host.remove(f"sc-hap.{node}.t")
    host.close()


def nodes_seen(url: str, n: int, **kw) -> collections.Counter:
    """Which nodes answered ``n`` requests (one connection each)."""
    seen = collections.Counter()
    for _ in range(n):
        r = requests.get(url, timeout=5, **kw)
        assert r.status_code == 200, r.text
        seen[r.json()["node"]] += 1
    return seen


def servers(hap) -> dict[str, object]:
    return {s.name: s for s in hap.driver.show_servers()}


def add_both(hap, workers):
    for node, ip in workers.items():
        hap.driver.add_server("app_light", node, ip, 8000)
    wait_until(lambda: all(s.healthy for s in hap.driver.show_servers()), 10,
               what="both servers healthy")


def test_rendered_config_is_valid_and_404s(haproxy_proc):
    hap = haproxy_proc
    web = App(name="web", pod="light", port=80, image="x", host="web.example.test")
    assert hap.driver.apply_config([LIGHT, web], {}) is True
    hap.driver.check_config(hap.settings.haproxy.haproxy_config)
    assert {"app_light", "app_web"} <= hap.driver.backends()
    assert hap.driver.apply_config([LIGHT, web], {}) is False    # unchanged: no reload
    r = requests.get(hap.url + "/nothing-here", timeout=5)
    assert r.status_code == 404 and "error" in r.json()
    r = requests.get(hap.url + "/light", timeout=5)
    assert r.status_code == 503                                   # app known, no server yet
    assert requests.get(hap.stats_url, timeout=5).status_code == 200
    if hap.driver.prometheus_supported():
        metrics = requests.get(hap.stats_url.replace("/stats", "/metrics"), timeout=5)
        assert "haproxy_process" in metrics.text

    bad = Path(hap.workdir / "bad.cfg")
    bad.write_text("frontend x\n    bind 127.0.0.1:1\n    use_backend nowhere\n")
    with pytest.raises(HAProxyError, match="rejects the rendered config"):
        hap.driver.check_config(str(bad))


def test_add_drain_maint_delete(haproxy_proc, workers):
    hap = haproxy_proc
    hap.driver.apply_config([LIGHT], {})
    add_both(hap, workers)
    assert {n: (s.admin, s.addr, s.port) for n, s in servers(hap).items()} == {
        "w1": ("ready", workers["w1"], 8000), "w2": ("ready", workers["w2"], 8000)}
    assert set(nodes_seen(hap.url + "/light", 6)) == {"w1", "w2"}

    hap.driver.set_state("app_light", "w1", "drain")
    assert servers(hap)["w1"].admin == "drain"
    assert set(nodes_seen(hap.url + "/light", 6)) == {"w2"}
    hap.driver.set_state("app_light", "w1", "maint")
    assert servers(hap)["w1"].admin == "maint"
    assert set(nodes_seen(hap.url + "/light", 6)) == {"w2"}
    hap.driver.set_state("app_light", "w1", "ready")
    wait_until(lambda: servers(hap)["w1"].healthy, 5, what="w1 back up")
    assert set(nodes_seen(hap.url + "/light", 6)) == {"w1", "w2"}

    hap.driver.del_server("app_light", "w1")
    assert set(servers(hap)) == {"w2"}
    assert set(nodes_seen(hap.url + "/light", 4)) == {"w2"}
    hap.driver.del_server("app_light", "w1")                      # already gone: no error

    with pytest.raises(errors.ValidationError, match="ready, drain, maint"):
        hap.driver.set_state("app_light", "w2", "off")
    with pytest.raises(errors.NotFound):
        hap.driver.add_server("app_nope", "w9", workers["w2"], 8000)
    with pytest.raises(HAProxyError, match="refused"):
        hap.driver.add_server("app_light", "w2", workers["w2"], 8000)   # name taken


def test_a_deleted_server_whose_worker_hangs_has_its_requests_retried_once_its_checks_fail(
        haproxy_proc, workers, test_network, test_labels):
    """A worker that dies with a request in progress may leave it hanging (no
    answer and no reset: here, a frozen worker). Deleting its server drains it,
    and its health checks go on while it drains: once they mark it down, the
    request is cut and HAProxy retries it on the other worker, long before the
    drain's wait (60 s) is up. In maint (checks off) it would wait it out, and
    the client (20 s) would give up."""
    hap = haproxy_proc
    hap.driver.apply_config([LIGHT], {})
    add_both(hap, workers)
    host = DockerHost(DOCKER_URL, test_network, name="pod-test", extra_labels=test_labels)
    answers: list[tuple[int, str]] = []

    def get():
        r = requests.get(hap.url + "/light", timeout=20)
        answers.append((r.status_code, r.json()["node"]))

    host.pause("sc-hap.w1.t")
    try:
        clients = [threading.Thread(target=get) for _ in range(2)]   # round robin: one of them to w1
        for t in clients:
            t.start()
        wait_until(lambda: hap.driver.sessions("app_light", "w1") > 0, 5, interval=0.01,
                   what="a request held by the frozen w1")
        hap.driver.del_server("app_light", "w1", wait=60)
        for t in clients:
            t.join(25)
        assert sorted(answers) == [(200, "w2"), (200, "w2")]
        assert set(servers(hap)) == {"w2"}
    finally:
        host.unpause("sc-hap.w1.t")
        host.close()


def test_backend_stats_count_requests_and_servers_up(haproxy_proc, workers):
    """One ``show stat``: the request counter, sessions and the servers taking requests."""
    hap = haproxy_proc
    hap.driver.apply_config([LIGHT], {})
    add_both(hap, workers)
    assert hap.driver.backend_stats()["app_light"].req_tot == 0
    nodes_seen(hap.url + "/light", 7)
    hap.driver.set_state("app_light", "w1", "drain")
    stats = hap.driver.backend_stats()
    assert set(stats) >= {"app_light", "no_app"} and "http" not in stats   # backends only
    assert (stats["app_light"].req_tot, stats["app_light"].inflight) == (7, 0)
    assert stats["app_light"].up == ("w2",)


def test_host_header_routing(haproxy_proc, workers):
    hap = haproxy_proc
    web = App(name="web", pod="light", port=8000, image="x", host="web.example.test",
              health_path="/health")
    hap.driver.apply_config([web], {})
    hap.driver.add_server("app_web", "w1", workers["w1"], 8000)
    wait_until(lambda: servers(hap)["w1"].healthy, 10, what="w1 healthy")
    r = requests.get(hap.url + "/light", headers={"Host": "web.example.test:8080"}, timeout=5)
    assert r.status_code == 200 and r.json()["node"] == "w1"
    assert requests.get(hap.url + "/light", timeout=5).status_code == 404


def test_reload_keeps_servers_and_states_without_failures(haproxy_proc, workers):
    hap = haproxy_proc
    hap.driver.apply_config([LIGHT], {})
    add_both(hap, workers)
    hap.driver.set_state("app_light", "w2", "drain")

    failures, ok = [], [0]
    stop = threading.Event()

    def loop():
        session_deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < session_deadline:
            try:
                r = requests.get(hap.url + "/light", timeout=5)
                if r.status_code != 200:
                    failures.append(r.status_code)
                else:
                    ok[0] += 1
            except requests.RequestException as exc:
                failures.append(repr(exc))

    t = threading.Thread(target=loop)
    t.start()
    try:
        time.sleep(0.5)
        for balance in ("leastconn", "random", "roundrobin"):
            app = App(**{**LIGHT.__dict__, "balance": balance})
            assert hap.driver.apply_config([app]) is True
            assert {n: s.admin for n, s in servers(hap).items()} == {"w1": "ready", "w2": "drain"}
            time.sleep(0.5)
    finally:
        stop.set()
        t.join()
    assert failures == [] and ok[0] > 20
    assert "balance roundrobin" in Path(hap.settings.haproxy.haproxy_config).read_text()
    assert hap.driver.configured_apps() == {
        "light": {"path": "/light", "host": "", "balance": "roundrobin", "health_path": "/health",
                  "strip_path": "", "wake": ""}}


def test_a_get_in_progress_survives_its_worker_dying(haproxy_proc, test_network, test_labels, worker_images):
    """L7 retries: a slow GET whose worker is killed mid-way is answered by another worker."""
    hap = haproxy_proc
    host = DockerHost(DOCKER_URL, test_network, name="pod-test", extra_labels=test_labels)
    heavy = App(name="heavy", pod="heavy", port=8000, image="simplecloud/heavy", path="/heavy",
                health_path="/health", balance="first")      # "first": the request goes to h1
    try:
        ips = {}
        for node in ("h1", "h2"):
            c = host.create_worker("heavy", node, "heavy", worker_images["heavy"], None, 8000, 0.5, 256, gen="t")
            ips[node] = host.start(c.name).ip
        hap.driver.apply_config([heavy], {})
        for node, ip in ips.items():
            hap.driver.add_server("app_heavy", node, ip, 8000)
        wait_until(lambda: all(s.healthy for s in hap.driver.show_servers() if s.backend == "app_heavy"),
                   15, what="both heavy servers healthy")
        results = []
        for _ in range(3):
            answer = {}
            t = threading.Thread(target=lambda: answer.update(
                r=requests.get(hap.url + "/heavy", timeout=30)))
            t.start()
            wait_until(lambda: hap.driver.sessions("app_heavy", "h1") > 0, 5, interval=0.01,
                       what="the GET to be in progress on h1")
            host.kill("sc-heavy.h1.t")                        # the worker dies mid-request
            t.join(30)
            results.append((answer["r"].status_code, answer["r"].json()["node"]))
            c = host.start("sc-heavy.h1.t")                   # back for the next round
            hap.driver.del_server("app_heavy", "h1", wait=0)
            hap.driver.add_server("app_heavy", "h1", c.ip, 8000)
            wait_until(lambda: all(s.healthy for s in hap.driver.show_servers() if s.backend == "app_heavy"),
                       15, what="h1 back")
        assert results == [(200, "h2")] * 3
    finally:
        for node in ("h1", "h2"):
            host.remove(f"sc-heavy.{node}.t")
        host.close()


@pytest.mark.parametrize("k", range(1, 6))
def test_a_crash_after_any_add_step_never_serves_without_checks(haproxy_proc, workers, k):
    """Only the first k commands of an add (a manager killed after them): the
    server is in maintenance or has its checks on, and a server without checks
    takes no request. After all five it takes requests once a check passed."""
    hap = haproxy_proc
    hap.driver.apply_config([LIGHT], {})
    for step in add_server_steps("app_light", "w1", workers["w1"], 8000)[:k]:
        hap.driver.command(step)
    server = servers(hap)["w1"]
    assert server.admin == "maint" or server.checks, server
    if not server.checks:
        assert requests.get(hap.url + "/light", timeout=5).status_code == 503
    if k == 5:
        assert server.admin == "ready"
        wait_until(lambda: servers(hap)["w1"].healthy, 5, what="w1 passing its check")
        assert set(nodes_seen(hap.url + "/light", 3)) == {"w1"}
    hap.driver.del_server("app_light", "w1", wait=0)



@pytest.fixture
def api_stub():
    """A tiny HTTP server on 127.0.0.1 standing in for the manager's API; yields its port."""
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            forwarded = self.headers.get_all("X-Forwarded-For") or []
            body = json.dumps({"status": "ok", "forwarded_for": forwarded}).encode()
            self.send_response(200 if self.path == "/api/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_changed_settings_re_render_and_the_api_answers_over_tls(haproxy_proc, api_stub, tmp_path):
    """A settings change (here: turning on the API's TLS listener) is a reason to
    re-render even when no app changed; HAProxy then serves the API over TLS
    with a certificate from the lab CA, jailed and unprivileged as configured."""
    hap = haproxy_proc
    assert hap.driver.apply_config([]) is False        # the fixture rendered these settings
    assert hap.driver.settings_drift() == ""
    make_pki(str(tmp_path / "pki"))
    pem = tmp_path / "api.pem"
    pem.write_text((tmp_path / "pki" / "api-default.pem").read_text()
                   + (tmp_path / "pki" / "api-default.key").read_text())
    tls_port = free_port()
    tls = dataclasses.replace(hap.settings.haproxy,
                              api_tls_bind=f"127.0.0.1:{tls_port}", api_tls_pem=str(pem))
    driver = HAProxy(tls, api_port=api_stub)
    assert driver.settings_drift() == "the manager's HAProxy settings changed"
    assert driver.apply_config([]) is True
    assert driver.settings_drift() == ""
    answer = requests.get(f"https://127.0.0.1:{tls_port}/api/health", headers={"X-Forwarded-For": "6.6.6.6"},
                          verify=str(tmp_path / "pki" / "ca.pem"), timeout=5)
    # the API sees the client's address alone, never one the client made up (api/security.py)
    assert answer.status_code == 200 and answer.json() == {"status": "ok", "forwarded_for": ["127.0.0.1"]}
    with pytest.raises(requests.exceptions.SSLError):   # a client that does not trust the lab CA
        requests.get(f"https://127.0.0.1:{tls_port}/api/health", timeout=5)
    workers = subprocess.run(["pgrep", "-u", hap.settings.haproxy.haproxy_user, "-P", str(hap.proc.pid)],
                             capture_output=True, text=True).stdout.split()
    assert workers and all(os.readlink(f"/proc/{pid}/root") == hap.settings.haproxy.haproxy_chroot
                           for pid in workers)


def test_reloads_undo_no_concurrent_server_change(haproxy_proc):
    """One lock for membership changes and reloads: servers added and deleted
    (from other threads, like the reconcilers') while haproxy.cfg is rewritten
    and reloaded over and over are all where they were put afterwards. Without
    it a reload carries over the servers it read before its new worker
    started: an add in between is lost, a delete comes back."""
    driver = haproxy_proc.driver
    other = App(name="other", pod="light", port=8000, image="simplecloud/light", path="/other")
    driver.apply_config([LIGHT], {})
    doomed = [f"gone-{i}" for i in range(40)]
    for name in doomed:
        driver.add_server("app_light", name, "127.0.0.1", 9, admin="maint")
    reloading, added, failures = threading.Event(), [], []

    def add_and_delete():
        i = 0
        while reloading.is_set() or i < len(doomed):
            try:
                driver.add_server("app_light", f"new-{i}", "127.0.0.1", 9, admin="maint")
                added.append(f"new-{i}")
                if i < len(doomed):
                    driver.del_server("app_light", doomed[i], wait=0)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(exc)
            i += 1

    reloading.set()
    changer = threading.Thread(target=add_and_delete)
    changer.start()
    for i in range(6):                       # a real reload each time: a backend comes or goes
        assert driver.apply_config([LIGHT, other] if i % 2 == 0 else [LIGHT])
    reloading.clear()
    changer.join(timeout=60)
    assert not failures
    names = {s.name for s in driver.show_servers() if s.backend == "app_light"}
    assert set(added) <= names, f"lost by a reload: {sorted(set(added) - names)}"
    assert not names & set(doomed), f"back after a reload: {sorted(names & set(doomed))}"
