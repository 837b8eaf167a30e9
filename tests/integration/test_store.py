"""Store against a real etcd: CRUD, the capacity race, CAS, events, watch."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from orchestrator.core.errors import CapacityError, Conflict, NotFound
from orchestrator.core.model import App, Host, Node, NodeStatus, Pod

pytestmark = pytest.mark.integration


def small_pod(name="p1", max_nodes=3, app=None):
    return Pod(name, ("pod-host",), max_nodes, 0.25, 128, app=app)


@pytest.fixture(autouse=True)
def pod_host(store):
    """Host pod-host, on which every pod here lives."""
    store.register_hosts([Host("pod-host", 10, 2.5, 1280)])


def web_app(name="web", pod="p1"):
    return App(name=name, pod=pod, port=8000, image="simplecloud/light", path=f"/{name}")


@pytest.fixture
def pod_with_app(store):
    store.put_pod(small_pod(app="web"), create=True)
    store.put_app(web_app(), create=True)
    return store


def test_pod_crud(store):
    pod = small_pod()
    store.put_pod(pod, create=True)
    assert store.get_pod("p1") == pod
    assert store.list_pods() == [pod]
    with pytest.raises(Conflict, match="already exists"):
        store.put_pod(pod, create=True)
    bigger = dataclasses.replace(pod, max_nodes=5)
    store.put_pod(bigger, create=False)
    assert store.get_pod("p1").max_nodes == 5
    with pytest.raises(NotFound):
        store.put_pod(small_pod("nope"), create=False)
    assert store.delete_pod("p1") == bigger
    assert store.get_pod("p1") is None
    with pytest.raises(NotFound):
        store.delete_pod("p1")


def test_app_crud(store):
    app = App(name="nc", pod="p1", port=9000, command=("nc", "-lk", "-p", "9000"), host="nc.local")
    with pytest.raises(NotFound, match="pod 'p1' does not exist"):
        store.put_app(app, create=True)
    store.put_pod(small_pod(), create=True)
    store.put_app(app, create=True)
    assert store.get_app("nc") == app
    assert store.list_apps() == [app]
    with pytest.raises(Conflict):
        store.put_app(app, create=True)
    store.delete_app("nc")
    assert store.get_app("nc") is None
    with pytest.raises(NotFound):
        store.delete_app("nc")


def test_add_and_remove_nodes_keep_podcount(pod_with_app):
    store = pod_with_app
    added = store.add_nodes("p1", [Node("a", "p1", "web", created=1.0, host="pod-host"),
                                   Node("b", "p1", "web", created=2.0, host="pod-host")])
    assert [n.name for n in added] == ["a", "b"]
    assert all(n.revision > 0 for n in added)
    assert store.pod_node_count("p1") == 2
    assert [n.name for n in store.list_nodes("p1")] == ["a", "b"]
    assert [n.name for n in store.list_nodes()] == ["a", "b"]
    with pytest.raises(Conflict, match="node 'a' already exists"):
        store.add_nodes("p1", [Node("a", "p1", "web", host="pod-host")])
    with pytest.raises(Conflict, match="still has 2 node"):
        store.delete_pod("p1")
    with pytest.raises(NotFound, match="node 'zz'"):
        store.remove_nodes("p1", ["a", "zz"])
    assert store.pod_node_count("p1") == 2          # nothing half-removed
    store.remove_nodes("p1", ["a", "b"])
    assert store.pod_node_count("p1") == 0
    assert store.list_nodes("p1") == []
    with pytest.raises(Conflict, match="used by app"):
        store.delete_pod("p1")
    store.delete_app("web")
    store.delete_pod("p1")


def test_add_nodes_refuses_beyond_capacity_and_missing_refs(pod_with_app):
    store = pod_with_app
    with pytest.raises(CapacityError, match="no room for 4 more node.s. on host pod-host: 0 of 3 nodes of pod p1"):
        store.add_nodes("p1", [Node(f"n{i}", "p1", "web", host="pod-host") for i in range(4)])
    assert store.list_nodes("p1") == [] and store.pod_node_count("p1") == 0
    with pytest.raises(NotFound, match="pod 'nope'"):
        store.add_nodes("nope", [Node("x", "nope", "web", host="pod-host")])
    with pytest.raises(NotFound, match="app 'ghost'"):
        store.add_nodes("p1", [Node("x", "p1", "ghost", host="pod-host")])


def test_add_nodes_creates_app_in_same_transaction(store):
    store.put_pod(small_pod(), create=True)
    app = web_app("api")
    store.add_nodes("p1", [Node("api-1", "p1", "api", NodeStatus.ONLINE, host="pod-host")], create_app=app)
    assert store.get_app("api") == app
    with pytest.raises(Conflict, match="already exists"):
        store.add_nodes("p1", [Node("api-2", "p1", "api", host="pod-host")], create_app=app)
    with pytest.raises(CapacityError):
        store.add_nodes("p1", [Node(f"z{i}", "p1", "z", host="pod-host") for i in range(3)], create_app=web_app("z"))
    assert store.get_app("z") is None                # app not created without its nodes
    store.remove_nodes("p1", ["api-1"], delete_app="api")
    assert store.get_app("api") is None and store.pod_node_count("p1") == 0


def test_capacity_race_exactly_free_slots_win(etcd_endpoint, pod_with_app):
    """8 threads, each with its own client, race for 3 free slots: exactly 3 win."""
    from orchestrator.edges.store import Store
    store = pod_with_app
    host, port = etcd_endpoint
    clients = [Store(host=host, port=port, prefix=store.prefix) for _ in range(8)]
    start = threading.Barrier(8)
    results: list[str] = []

    def contender(i):
        start.wait()
        try:
            clients[i].add_nodes("p1", [Node(f"r{i}", "p1", "web", host="pod-host")])
            results.append("ok")
        except CapacityError:
            results.append("full")

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for c in clients:
        c.close()
    assert sorted(results) == ["full"] * 5 + ["ok"] * 3
    assert store.pod_node_count("p1") == 3 == len(store.list_nodes("p1"))


def test_update_node_compare_and_swap(pod_with_app):
    store = pod_with_app
    (node,) = store.add_nodes("p1", [Node("a", "p1", "web", host="pod-host")])
    online = store.update_node(dataclasses.replace(node, status=NodeStatus.ONLINE))
    assert online.status == NodeStatus.ONLINE and online.revision > node.revision
    # a writer that read before that change is refused ...
    with pytest.raises(Conflict, match="changed while"):
        store.update_node(dataclasses.replace(node, status=NodeStatus.PAUSED))
    assert store.get_node("p1", "a").status == NodeStatus.ONLINE
    # ... but retrying the very same change is harmless
    assert store.update_node(dataclasses.replace(node, status=NodeStatus.ONLINE)).status == NodeStatus.ONLINE
    store.remove_nodes("p1", ["a"])
    with pytest.raises(NotFound):
        store.update_node(online)


def test_events_newest_first_and_trimmed(store):
    store.max_events = 20
    for i in range(45):
        store.record_event("test", f"s{i}", f"message {i}")
    newest = store.events(limit=5)
    assert [e.subject for e in newest] == ["s44", "s43", "s42", "s41", "s40"]
    store.trim_events()
    assert len(store.events(limit=100)) == 20


def test_wait_for_change_times_out_then_wakes_on_write(store):
    threads_before = threading.active_count()
    store.put_pod(small_pod("p1"), create=True)
    store.put_app(App(name="a", pod="p1", port=80, image="img", path="/a"), create=True)
    store.add_nodes("p1", [Node("a", "p1", "a", NodeStatus.ONLINE, host="pod-host")])
    store.wait_for_change(0.2)                 # drain anything from setup
    t0 = time.monotonic()
    assert store.wait_for_change(0.5) is False
    assert time.monotonic() - t0 >= 0.45
    assert store.put_observed("p1", "a", {"state": "running"})   # observed writes do not wake
    assert store.wait_for_change(0.3) is False

    timer = threading.Timer(0.3, lambda: store.put_pod(small_pod("p3"), create=True))
    timer.start()
    t0 = time.monotonic()
    assert store.wait_for_change(10) is True
    assert time.monotonic() - t0 < 5
    timer.join()
    # a change made while nobody waits is reported by the next call
    store.put_pod(small_pod("p2"), create=True)
    assert store.wait_for_change(5) is True
    time.sleep(0.2)
    assert threading.active_count() <= threads_before + 1   # gRPC may keep one poller


def test_use_cases_on_real_etcd_concurrent_scale_is_exact(etcd_endpoint, store):
    """Two managers scaling the same app to 5 at once end with exactly 5 nodes."""
    from orchestrator.edges.store import Store
    from orchestrator.usecases import UseCases
    from tests.bodies import app_spec

    UseCases.over(store).cluster.init()
    UseCases.over(store).apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1))
    host, port = etcd_endpoint
    others = [Store(host=host, port=port, prefix=store.prefix) for _ in range(4)]
    start = threading.Barrier(4)
    errors = []

    def scale(s):
        start.wait()
        try:
            UseCases.over(s).apps.scale("web", 5)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scale, args=(s,)) for s in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in others:
        s.close()
    assert errors == []
    names = sorted(n.name for n in store.list_nodes("medium"))
    assert names == [f"web-{i}" for i in range(1, 6)]
    assert store.pod_node_count("medium") == 5
    result = UseCases.over(store).apps.stop("web")
    assert len(result["removed"]) == 5 and store.pod_node_count("medium") == 0


def test_wait_for_lb_change_wakes_on_a_published_table_only(store):
    store.wait_for_lb_change(0.2)              # drain anything from setup
    store.wait_for_change(0.2)
    store.put_pod(small_pod("p1"), create=True)
    assert store.wait_for_lb_change(0.3) is False           # desired state does not wake the mirror
    timer = threading.Timer(0.3, lambda: store.put_lb_table("app_a", [{"name": "a-1.abc", "addr": "10.0.0.2"}]))
    timer.start()
    t0 = time.monotonic()
    assert store.wait_for_lb_change(10) is True
    assert time.monotonic() - t0 < 5
    timer.join()
    assert store.wait_for_change(0.3) is True               # (the pod, still unreported there)
    assert store.wait_for_change(0.3) is False              # and a published table does not wake the controller
