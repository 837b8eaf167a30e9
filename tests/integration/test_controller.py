"""The controllers end to end: real etcd, real HAProxy, the local dockerd.

Desired state is written straight into the store (as the service layer
would), then a host reconciler (and the HAProxy sync, for haproxy.cfg) is run and
the real world is checked: docker containers, HAProxy servers, requests
through the 127.0.0.1 frontend, and the observed records in etcd.
"""
from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import requests

from orchestrator.core.model import App, Host, Node, NodeStatus, Pod, spec_generation
from orchestrator.core.naming import server_name
from orchestrator.core.steps import AddServer, DelServer, SetServerState
from orchestrator.edges.haproxy import add_server_steps
from orchestrator.server import build_controller

from .fixtures_cluster import (
    APP,
    POD,
    all_healthy,
    converge,
    nodes_through,
    reconciler,
    servers,
)
from .fixtures_edges import wait_until

pytestmark = pytest.mark.integration


def set_status(store, name, status):
    store.update_node(dataclasses.replace(store.get_node("ctl", name), status=status))


def observed(store, node):
    return store.get_observed("ctl", node) or {}


def test_controller_end_to_end(cluster, docker_client):
    c, store = cluster, cluster.store
    store.add_nodes("ctl", [Node("n1", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test", created=1.0),
                            Node("n2", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test", created=2.0),
                            Node("n3", "ctl", "ctl", NodeStatus.NEW, host="pod-test", created=3.0)])
    converge(c, lambda: all_healthy(c, ["n1", "n2"]) and observed(store, "n1").get("phase") == "serving")
    states = {n: [x.status for x in c.containers(docker_client, n)] for n in ("n1", "n2", "n3")}
    assert states == {"n1": ["running"], "n2": ["running"], "n3": ["created"]}
    assert set(nodes_through(c.hap.url)) == {"n1", "n2"}
    o = observed(store, "n1")
    assert (o["phase"], o["container"], o["healthy"], o["host"], o["restarts"]) == (
        "serving", "running", True, "pod-test", 0)
    assert o["gen"] == spec_generation(APP, POD) and o["ip"]
    assert observed(store, "n3")["phase"] == "stopped"
    assert not c.rec.reconcile_once()                           # in sync: nothing planned

    # pause n2: drained then maint, still running; traffic only to n1
    set_status(store, "n2", NodeStatus.PAUSED)
    converge(c)
    assert servers(c)["n2"][0].admin == "maint" and observed(store, "n2")["phase"] == "paused"
    assert [x.status for x in c.containers(docker_client, "n2")] == ["running"]
    assert set(nodes_through(c.hap.url)) == {"n1"}

    # launch n3 (NEW → ONLINE): started and added in one pass (one chain)
    set_status(store, "n3", NodeStatus.ONLINE)
    converge(c, lambda: all_healthy(c, ["n1", "n3"]))

    # remove n2's record: server deleted, container gone, observed record gone
    store.remove_nodes("ctl", ["n2"])
    converge(c)
    assert "n2" not in servers(c) and c.containers(docker_client, "n2") == []
    assert store.get_observed("ctl", "n2") is None


def test_a_killed_worker_is_replaced_and_counted(cluster, docker_client):
    c, store = cluster, cluster.store
    store.add_nodes("ctl", [Node("n1", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test"),
                            Node("n2", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test")])
    converge(c, lambda: all_healthy(c, ["n1", "n2"]))
    (old,) = c.containers(docker_client, "n1")
    old.kill()
    wait_until(lambda: c.containers(docker_client, "n1")[0].status == "exited", 10, what="n1 exited")
    converge(c, lambda: all_healthy(c, ["n1"]) and observed(store, "n1").get("phase") == "serving")
    (new,) = c.containers(docker_client, "n1")
    assert new.id != old.id and new.status == "running"
    o = observed(store, "n1")
    assert o["restarts"] == 1 and o["last_error"] == "its container exited with code 137"
    assert store.get_node("ctl", "n1").status == NodeStatus.ONLINE     # desired state untouched
    failed = [e for e in store.events(limit=200) if e.kind == "node.failed"]
    assert failed and "ctl/n1 failed: its container exited with code 137" in failed[0].message


def test_a_hung_worker_is_replaced(cluster, docker_client):
    c, store = cluster, cluster.store
    store.add_nodes("ctl", [Node("n1", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test"),
                            Node("n2", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test")])
    converge(c, lambda: all_healthy(c, ["n1", "n2"]))
    converge(c)                                               # records that n1 passed its check
    (hung,) = c.containers(docker_client, "n1")
    hung.pause()                                              # the process freezes; the container "runs"
    try:
        converge(c, lambda: c.containers(docker_client, "n1")[0].id != hung.id and all_healthy(c, ["n1"]),
                 what="the hung worker to be replaced")
    finally:
        try:
            hung.unpause()
        except Exception:  # noqa: BLE001 - it was removed: fine
            pass
    assert observed(store, "n1")["last_error"] == "it stopped passing its health check and uses no CPU (hung)"
    assert set(nodes_through(c.hap.url, 8)) == {"n1", "n2"}


def test_a_busy_worker_is_not_taken_for_a_hung_one(cluster, docker_client):
    """DOWN but using CPU: overloaded, left out of rotation, not killed; once idle, replaced."""
    c, store = cluster, cluster.store
    files = App(name="files", pod="ctl", port=9000, image="debian:bookworm-slim",
                command=("python3", "-m", "http.server", "9000"), path="/files", health_path="/")
    store.put_app(files, create=True)
    store.add_nodes("ctl", [Node("f1", "ctl", "files", NodeStatus.ONLINE, host="pod-test")])
    converge(c, lambda: all_healthy(c, []) and observed(store, "f1").get("phase") == "serving")
    converge(c)                                               # records that f1 passed its check
    (box,) = c.containers(docker_client, "f1")
    server = box.exec_run(["sh", "-c", "echo $(ls /proc | grep -E '^[0-9]+$' | sort -n | sed -n 2p)"]).output
    box.exec_run(["sh", "-c", f"kill -STOP {server.decode().strip()}"])      # the server stops answering
    box.exec_run(["sh", "-c", "echo $$ > /tmp/busy; while :; do :; done"], detach=True)   # ... but it is busy
    wait_until(lambda: c.rec.reconcile_once() is not None and observed(store, "f1").get("phase") == "unhealthy",
               20, interval=0.2, what="f1 DOWN")
    for _ in range(15):                                       # ~3 s of passes while it is busy
        c.rec.reconcile_once()
        time.sleep(0.2)
    assert [x.id for x in c.containers(docker_client, "f1")] == [box.id]
    assert observed(store, "f1")["restarts"] == 0
    box.exec_run(["sh", "-c", "kill $(cat /tmp/busy)"])       # idle now: hung
    converge(c, lambda: observed(store, "f1").get("restarts") == 1
             and observed(store, "f1").get("phase") == "serving", what="f1 replaced once idle")
    assert observed(store, "f1")["last_error"] == "it stopped passing its health check and uses no CPU (hung)"


def test_a_crash_loop_backs_off(cluster, docker_client):
    c, store = cluster, cluster.store
    crasher = App(name="crash", pod="ctl", port=9000, image="debian:bookworm-slim",
                  command=("sh", "-c", "echo starting; exit 3"), path="/crash")
    store.put_app(crasher, create=True)
    store.add_nodes("ctl", [Node("x1", "ctl", "crash", NodeStatus.ONLINE, host="pod-test")])
    stop = threading.Event()
    loop = threading.Thread(target=c.rec.run, args=(stop,), daemon=True)
    c.haproxy_sync.sync_config()
    loop.start()
    try:
        wait_until(lambda: observed(store, "x1").get("phase") == "backoff", 30,
                   what="x1 to back off")
        o = observed(store, "x1")
        assert o["restarts"] >= 1 and o["last_error"] == "its container exited with code 3"
        assert o["retry_at"] > o["time"]
        backoffs = [e for e in store.events(limit=300) if e.kind == "node.backoff"]
        assert backoffs and "replaced in" in backoffs[0].message and "back-off" in backoffs[0].message
        # the crashed container is kept during the back-off (its logs can be read)
        assert "starting" in c.pool.get("pod-test").logs(c.containers(docker_client, "x1")[0].name)
    finally:
        stop.set()
        loop.join(timeout=20)
    assert not loop.is_alive()


def test_rolling_update_under_load_loses_no_request(cluster, docker_client):
    c, store = cluster, cluster.store
    image = docker_client.images.get("simplecloud/light")
    image.tag("simplecloud/light", "rolltest")
    try:
        store.add_nodes("ctl", [Node(f"r{i}", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test") for i in range(3)])
        converge(c, lambda: all_healthy(c, ["r0", "r1", "r2"]))
        failures, sent, most = [], [0], [0]
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    r = requests.get(c.hap.url + "/light", timeout=10)
                    if r.status_code != 200:
                        failures.append(r.status_code)
                except requests.RequestException as exc:
                    failures.append(str(exc))
                sent[0] += 1
                most[0] = max(most[0], len(c.containers(docker_client)))
                time.sleep(0.02)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        store.put_app(dataclasses.replace(APP, image="simplecloud/light:rolltest"), create=False)
        new_gen = spec_generation(dataclasses.replace(APP, image="simplecloud/light:rolltest"), POD)
        try:
            converge(c, lambda: all_healthy(c, ["r0", "r1", "r2"])
                     and {x.labels["simplecloud.gen"] for x in c.containers(docker_client)} == {new_gen}
                     and len(c.containers(docker_client)) == 3, timeout=90, what="the rolling update")
        finally:
            stop.set()
            t.join(timeout=15)
        assert sent[0] > 20 and failures == [], f"{len(failures)} of {sent[0]} requests failed: {failures[:5]}"
        assert most[0] <= 4                               # one node at a time: 3 + 1 surge
        assert all(not o.get("updating") for o in (observed(store, f"r{i}") for i in range(3)))
    finally:
        docker_client.images.remove("simplecloud/light:rolltest", noprune=True)


def test_unreachable_host_is_reported_and_others_go_on(cluster, docker_client):
    c, store = cluster, cluster.store
    store.register_hosts([Host("pod-gone", 2, 0.5, 128)])
    store.put_pod(Pod("gone", ("pod-gone",), max_nodes=2, cpus=0.25, memory_mb=64), create=True)
    gone_app = dataclasses.replace(APP, name="gapp", pod="gone", path="/g")
    store.put_app(gone_app, create=True)
    store.add_nodes("gone", [Node("g1", "gone", "gapp", NodeStatus.ONLINE, host="pod-gone")])
    store.add_nodes("ctl", [Node("n1", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test")])
    gone = reconciler("pod-gone", store, c.pool, c.hap.driver, c.settings)
    for _ in range(3):
        assert gone.reconcile_once() is None
    converge(c, lambda: all_healthy(c, ["n1"]))
    errors = [e for e in store.events(limit=100) if e.kind == "controller.error" and "pod-gone" in e.message]
    assert len(errors) == 1                                 # reported once, not every pass
    g1 = store.get_observed("gone", "g1")
    assert g1["phase"] == "unreachable" and "unreachable since" in g1["host_error"]


def test_a_failing_step_is_reported_and_the_others_proceed(cluster, docker_client):
    c, store = cluster, cluster.store
    bad = App(name="bad", pod="ctl", port=8000, image="simplecloud/does-not-exist", path="/bad")
    store.put_app(bad, create=True)
    store.add_nodes("ctl", [Node("b1", "ctl", "bad", NodeStatus.ONLINE, host="pod-test", created=1.0),
                            Node("n1", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test", created=2.0)])
    for _ in range(3):
        c.haproxy_sync.sync_config()
        c.rec.reconcile_once()
    assert [x.status for x in c.containers(docker_client, "n1")] == ["running"]
    failures = [msg for _, msg in c.rec.last_failures]
    assert len(failures) == 1 and "push it to the registry" in failures[0]
    events = store.events(limit=100)
    assert all("start container sc-ctl.b1" not in e.message for e in events)   # its chain stopped
    assert any(e.kind == "controller.error" and e.subject == "ctl/b1" for e in events)


def test_a_new_reconciler_remembers_restarts_and_redoes_nothing(cluster, docker_client):
    c, store = cluster, cluster.store
    store.add_nodes("ctl", [Node("n1", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test")])
    converge(c, lambda: all_healthy(c, ["n1"]))
    c.containers(docker_client, "n1")[0].kill()
    converge(c, lambda: all_healthy(c, ["n1"]) and observed(store, "n1").get("restarts") == 1)
    before = c.containers(docker_client, "n1")[0].id
    fresh = reconciler("pod-test", store, c.pool, c.hap.driver, c.settings)   # a restarted manager
    assert not fresh.reconcile_once()                     # in sync: no step redone
    assert c.containers(docker_client, "n1")[0].id == before
    assert observed(store, "n1")["restarts"] == 1


def test_the_controller_wakes_on_etcd_changes_and_docker_events(cluster, docker_client):
    c, store = cluster, cluster.store
    controller = build_controller(store, c.pool, c.hap.driver, c.settings)
    stop = threading.Event()
    controller.start(stop)
    try:
        store.add_nodes("ctl", [Node("w1", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test")])
        wait_until(lambda: all_healthy(c, ["w1"]), 30, what="the loop to serve w1")
        assert set(nodes_through(c.hap.url, 2)) == {"w1"}
        (first,) = c.containers(docker_client, "w1")
        first.kill()
        wait_until(lambda: all_healthy(c, ["w1"]) and c.containers(docker_client, "w1")[0].id != first.id,
                   30, what="w1 to be replaced")
        assert store.list_link_states()["pod-test"]["reachable"] is True
    finally:
        stop.set()
        assert controller.join(20)


@pytest.mark.parametrize("k", range(1, 5))
def test_a_half_added_server_is_repaired_by_the_next_pass(cluster, docker_client, k):
    """A manager killed after k of the commands that add a launched node's
    server: the next pass re-adds a server without checks, and puts one with
    checks in service."""
    c, store = cluster, cluster.store
    store.add_nodes("ctl", [Node("n1", "ctl", "ctl", NodeStatus.NEW, host="pod-test", created=1.0)])
    converge(c, lambda: [x.status for x in c.containers(docker_client, "n1")] == ["created"])
    set_status(store, "n1", NodeStatus.ONLINE)
    # what the killed manager did of the chain [start the container, add its server]
    host = c.pool.get("pod-test")
    (created,) = [x for x in host.list_workers() if x.node == "n1"]
    ran = host.start(created.name)
    for step in add_server_steps("app_ctl", server_name("n1", ran.id), ran.ip, APP.port)[:k]:
        c.hap.driver.command(step)
    taken = converge(c, lambda: all_healthy(c, ["n1"]))
    repair = [DelServer, AddServer] if k == 1 else [SetServerState]
    assert [type(step) for step in taken] == repair
    (repaired,) = servers(c)["n1"]
    assert repaired.checks and repaired.admin == "ready" and repaired.healthy
    assert set(nodes_through(c.hap.url, 3)) == {"n1"}


def test_damaged_records_do_not_stop_a_pass(cluster, etcd_endpoint):
    """Garbage under pods/, apps/, nodes/ and observed/ is skipped (and
    reported); the good node is still run."""
    import etcd3
    c, store = cluster, cluster.store
    store.add_nodes("ctl", [Node("n1", "ctl", "ctl", NodeStatus.ONLINE, host="pod-test", created=1.0)])
    raw = etcd3.client(*etcd_endpoint, timeout=5)
    try:
        for key, value in {"pods/zz": "{", "apps/zz": "[]", "nodes/ctl/zz": '{"name": "zz"}',
                           "observed/ctl/n1": '{"health": {"restarts": "many"}}'}.items():
            raw.put(store.prefix + key, value)
    finally:
        raw.close()
    converge(c, lambda: all_healthy(c, ["n1"]) and observed(store, "n1").get("phase") == "serving")
    reported = {e.subject for e in store.events(200) if e.kind == "store.corrupt"}
    assert {"pods/zz", "apps/zz", "nodes/ctl/zz", "observed/ctl/n1"} <= reported

