"""Use cases on the in-memory FakeStore: ordering, capacity, scaling, no half-applied state."""

import dataclasses

import pytest

from orchestrator.core.errors import CapacityError, Conflict, NotFound, Unavailable, ValidationError
from orchestrator.core.model import Container, NodeStatus, spec_generation
from orchestrator.service import Service
from orchestrator.settings import Settings
from tests.unit.fakes import FakeHost, FakeHosts, FakeStore


@pytest.fixture
def store():
    return FakeStore()


@pytest.fixture
def svc(store):
    s = Service(store, Settings())
    s.init_cluster()
    return s


def snapshot(store):
    return dict(store.data)


def test_init_cluster_is_idempotent(store):
    svc = Service(store, Settings.of(job_image_prefix="manager:5050/simplecloud/"))
    first = svc.init_cluster()
    assert first["created"] == {"pods": ["light", "medium", "heavy"], "apps": ["light", "medium", "heavy"]}
    second = svc.init_cluster()
    assert second["created"] == {"pods": [], "apps": []}
    assert second["existing"]["pods"] == ["light", "medium", "heavy"]
    assert store.get_app("light").image == "manager:5050/simplecloud/light"
    assert [e.kind for e in store.events()] == ["cluster.init"]


def test_register_and_launch_oldest_new_node_first(svc, store):
    for name in ("n1", "n2", "n3"):
        node = svc.register_node(name, "light")
        assert node.status == NodeStatus.NEW and node.app == "light"
    assert svc.launch("light").name == "n1"
    assert svc.launch("light").name == "n2"
    statuses = {n["name"]: n["status"] for n in svc.list_nodes("light")}
    assert statuses == {"n1": NodeStatus.ONLINE, "n2": NodeStatus.ONLINE, "n3": NodeStatus.NEW}
    svc.launch("light")
    with pytest.raises(Conflict) as info:
        svc.launch("light")
    assert info.value.message == "pod light has no NEW node; register one with: cloud register NODE light"
    assert store.events(1)[0].kind == "node.launched"


def test_pause_and_resume_move_only_the_right_nodes(svc):
    for name in ("a", "b", "c"):
        svc.register_node(name, "medium")
    svc.launch("medium")
    svc.launch("medium")
    paused = svc.pause("medium")
    assert sorted(n.name for n in paused) == ["a", "b"]
    assert {n["name"]: n["status"] for n in svc.list_nodes("medium")} == \
        {"a": NodeStatus.PAUSED, "b": NodeStatus.PAUSED, "c": NodeStatus.NEW}
    assert svc.pause("medium") == []
    assert sorted(n.name for n in svc.resume("medium")) == ["a", "b"]
    assert all(n["status"] == NodeStatus.ONLINE for n in svc.list_nodes("medium") if n["name"] != "c")


def test_register_node_refusals_change_nothing(svc, store):
    before = snapshot(store)
    with pytest.raises(ValidationError, match="not a valid name"):
        svc.register_node("Bad_Name", "light")
    with pytest.raises(NotFound, match="pod 'nope' does not exist"):
        svc.register_node("n1", "nope")
    with pytest.raises(NotFound, match="app 'ghost' does not exist"):
        svc.register_node("n1", "light", app="ghost")
    with pytest.raises(Conflict, match="app 'heavy' runs in pod 'heavy', not 'light'"):
        svc.register_node("n1", "light", app="heavy")
    svc.register_pod("bare", "pod-heavy", 2, 1, 64)
    with pytest.raises(Conflict, match="has no default app; name one: cloud register n1 bare --app APP"):
        svc.register_node("n1", "bare")
    svc.register_node("n1", "light")
    with pytest.raises(Conflict, match="node 'n1' already exists in pod 'light'"):
        svc.register_node("n1", "light")
    assert [n["name"] for n in svc.list_nodes()] == ["n1"]
    assert set(store.data) - set(before) == {"pods/bare", "nodes/light/n1", "podcount/light"}


def test_capacity_of_a_pod_is_enforced(svc):
    for i in range(10):
        svc.register_node(f"h{i}", "heavy")
    with pytest.raises(CapacityError) as info:
        svc.register_node("h10", "heavy")
    assert info.value.message == "pod 'heavy' is full: 10 of 10 nodes; remove a node or use another pod"
    svc.remove_node("h3", "heavy")
    svc.register_node("h10", "heavy")
    pod = next(p for p in svc.list_pods() if p["name"] == "heavy")
    assert (pod["used"], pod["free"], pod["statuses"]) == (10, 0, {"NEW": 10})


def test_remove_node_and_pod(svc):
    svc.register_pod("batch", "pod-heavy", 2, 1, 64)
    with pytest.raises(NotFound, match="node 'x' does not exist in pod 'batch'"):
        svc.remove_node("x", "batch")
    with pytest.raises(Conflict, match="used by app\\(s\\) light; stop them first"):
        svc.remove_pod("light")
    assert svc.remove_pod("batch").name == "batch"
    with pytest.raises(NotFound):
        svc.remove_pod("batch")


def test_register_pod_validates_and_uses_defaults(svc):
    pod = svc.register_pod("extra", "Pod-Light")
    assert (pod.host, pod.max_nodes, pod.cpus, pod.memory_mb) == ("pod-light", 10, 0.5, 256)
    with pytest.raises(Conflict, match="already exists"):
        svc.register_pod("extra", "pod-light")
    with pytest.raises(ValidationError, match="cpus must be a number of CPUs from 0.01 to 64, got 0"):
        svc.register_pod("p2", "pod-light", cpus=0)
    with pytest.raises(Conflict, match="app 'light' runs in pod 'light'"):
        svc.register_pod("p3", "pod-light", app="light")


def test_deploy_creates_app_and_online_replicas_in_one_write(svc, store):
    writes = store.writes
    result = svc.deploy_app({"name": "echo", "command": ["nc", "-lk", "-p", "9000"], "pod": "light",
                             "replicas": 3, "port": 9000, "balance": "leastconn"})
    assert store.writes == writes + 1
    assert result["replicas"] == 3 and result["command"] == ["nc", "-lk", "-p", "9000"]
    assert [n["name"] for n in result["nodes"]] == ["echo-1", "echo-2", "echo-3"]
    assert all(n["status"] == NodeStatus.ONLINE for n in svc.list_nodes("light"))
    assert store.get_app("echo").path == "/echo"
    with pytest.raises(Conflict, match="app 'echo' already exists"):
        svc.deploy_app({"name": "echo", "image": "nginx", "pod": "light", "port": 80})


def test_deploy_refusals_write_nothing(svc, store):
    before = snapshot(store)
    base = {"name": "web", "image": "nginx:1.25", "pod": "heavy", "port": 80}
    with pytest.raises(CapacityError, match="room for 10 more"):
        svc.deploy_app({**base, "replicas": 11})
    with pytest.raises(NotFound, match="pod 'nowhere'"):
        svc.deploy_app({**base, "pod": "nowhere"})
    with pytest.raises(ValidationError, match="unknown field 'replica'"):
        svc.deploy_app({**base, "replica": 2})
    with pytest.raises(Conflict, match="path '/light' is already the route of app 'light'"):
        svc.deploy_app({**base, "path": "/light"})
    assert snapshot(store) == before


def test_deploy_checks_the_image_on_the_pod_host(store):
    hosts = FakeHosts(FakeHost(images={"nginx:1.25", "debian:bookworm-slim"}))
    svc = Service(store, Settings(), hosts=hosts)
    svc.init_cluster()
    with pytest.raises(Conflict, match="image 'nginx:9' does not exist on host pod-medium"):
        svc.deploy_app({"name": "web", "image": "nginx:9", "pod": "medium", "port": 80})
    assert store.get_app("web") is None
    svc.deploy_app({"name": "web", "image": "nginx:1.25", "pod": "medium", "port": 80})
    svc.deploy_app({"name": "nc", "command": ["nc", "-lk"], "pod": "medium", "port": 9, "replicas": 0})
    assert hosts.asked == ["pod-medium"] * 3


def test_scale_up_and_down_removes_newest(svc, store):
    svc.deploy_app({"name": "web", "image": "nginx", "pod": "medium", "port": 80, "replicas": 2})
    assert svc.scale_app("web", 5)["replicas"] == 5
    assert sorted(n["name"] for n in svc.list_nodes("medium")) == [f"web-{i}" for i in range(1, 6)]
    result = svc.scale_app("web", 2)
    assert [n["name"] for n in result["nodes"]] == ["web-1", "web-2"]
    assert svc.scale_app("web", 2)["replicas"] == 2          # no-op
    assert svc.scale_app("web", 3)["nodes"][-1]["name"] == "web-3"
    assert svc.scale_app("web", 0)["replicas"] == 0
    assert store.pod_node_count("medium") == 0
    assert store.events(1)[0].kind == "app.scaled"


def test_scale_refusals(svc, store):
    svc.deploy_app({"name": "web", "image": "nginx", "pod": "heavy", "port": 80, "replicas": 8})
    svc.register_node("extra", "heavy")
    before = snapshot(store)
    with pytest.raises(CapacityError, match="room for 1 more node"):
        svc.scale_app("web", 11)
    with pytest.raises(ValidationError, match="replicas must be a whole number from 0 to 1000"):
        svc.scale_app("web", -1)
    with pytest.raises(NotFound, match="app 'nope'"):
        svc.scale_app("nope", 1)
    assert snapshot(store) == before
    assert svc.scale_app("web", 9)["replicas"] == 9


def test_scale_retries_when_the_pod_changed_meanwhile(svc, store):
    svc.deploy_app({"name": "web", "image": "nginx", "pod": "medium", "port": 80, "replicas": 1})
    real = store.pod_node_count
    calls = []

    def racing_count(name):
        count = real(name)
        if not calls:                       # first read: another request sneaks a node in
            calls.append(1)
            store.add_nodes("medium", [dataclasses.replace(store.get_node("medium", "web-1"),
                                                           name="other", app="medium")])
        return count

    store.pod_node_count = racing_count
    assert svc.scale_app("web", 3)["replicas"] == 3          # recomputed, not 4
    assert sorted(n.name for n in store.list_nodes("medium")) == ["other", "web-1", "web-2", "web-3"]


def test_stop_app_removes_nodes_and_app(svc, store):
    svc.deploy_app({"name": "web", "image": "nginx", "pod": "light", "port": 80, "replicas": 4})
    svc.register_node("keep", "light")
    result = svc.stop_app("web")
    assert len(result["removed"]) == 4
    assert store.get_app("web") is None
    assert [n.name for n in store.list_nodes("light")] == ["keep"]
    assert store.pod_node_count("light") == 1
    with pytest.raises(NotFound):
        svc.stop_app("web")
    svc.deploy_app({"name": "idle", "image": "nginx", "pod": "light", "port": 80, "replicas": 0})
    assert svc.stop_app("idle")["removed"] == []


def test_list_apps_and_status(svc):
    svc.deploy_app({"name": "web", "image": "nginx", "pod": "light", "port": 80, "replicas": 2})
    svc.register_node("n1", "light")
    apps = {a["name"]: a for a in svc.list_apps()}
    assert apps["web"]["replicas"] == 2 and apps["web"]["statuses"] == {"ONLINE": 2}
    assert apps["light"]["replicas"] == 1 and apps["light"]["statuses"] == {"NEW": 1}
    status = svc.status()
    assert status["nodes"] == {"NEW": 1, "ONLINE": 2}
    assert [p["name"] for p in status["pods"]] == ["heavy", "light", "medium"]
    assert status["events"][0].kind == "node.registered"
    assert svc.get_app("web")["nodes"][0]["name"] == "web-1"


def test_logs_and_crash_use_the_newest_container_of_the_node(store):
    old = Container("sc-light.n1.aaaa", "light", "n1", "light", "exited", None, "img", "aaaa", "id1", 10.0)
    new = Container("sc-light.n1.bbbb", "light", "n1", "light", "running", "10.0.0.2", "img", "bbbb",
                    "id2", 20.0)
    host = FakeHost(images={"simplecloud/light"}, logs={"sc-light.n1.bbbb": "a\nb\nc"},
                    containers=[new, old])
    svc = Service(store, Settings(), hosts=FakeHosts(host))
    svc.init_cluster()
    svc.register_node("n1", "light")
    assert svc.logs("n1", tail=2)["logs"] == "b\nc"
    assert svc.logs("n1", pod="light")["container"] == "sc-light.n1.bbbb"
    with pytest.raises(NotFound, match="no node named 'n9'"):
        svc.logs("n9")
    with pytest.raises(Unavailable):
        Service(store, Settings()).logs("n1", "light")
    assert svc.crash_node("n1", "light")["container"] == "sc-light.n1.bbbb"
    assert host.killed == ["sc-light.n1.bbbb"]
    host.containers = [old]
    with pytest.raises(Conflict, match="has no running container"):
        svc.crash_node("n1", "light")
    assert store.get_node("light", "n1").status == NodeStatus.NEW     # desired state untouched


def test_update_app_changes_only_what_is_asked(store):
    svc = Service(store, Settings(), hosts=FakeHosts(FakeHost(images={"simplecloud/light", "img:v2"})))
    svc.init_cluster()
    out = svc.update_app("light", {"image": "img:v2", "balance": "leastconn"})
    assert out["changed"] == ["image", "balance"]
    app = store.get_app("light")
    assert (app.image, app.balance, app.path) == ("img:v2", "leastconn", "/light")
    assert svc.update_app("light", {"balance": "leastconn"})["changed"] == []
    with pytest.raises(Conflict, match="does not exist on host"):
        svc.update_app("light", {"image": "missing:1"})
    with pytest.raises(Conflict, match="more than the node size"):
        svc.update_app("light", {"cpus": 2})
    with pytest.raises(Conflict, match="needs a route: keep a path or a host"):
        svc.update_app("light", {"path": None})
    with pytest.raises(ValidationError, match="unknown field 'replicas'"):
        svc.update_app("light", {"replicas": 3})
    with pytest.raises(Conflict, match="already the route of app 'medium'"):
        svc.update_app("light", {"path": "/medium"})
    assert store.get_app("light") == app                                # refusals change nothing


def test_names_with_slashes_never_reach_the_store(svc):
    with pytest.raises(ValidationError):
        svc.launch("light/../x")
    with pytest.raises(ValidationError):
        svc.remove_node("a/b", "light")


def test_observed_records_of_an_earlier_node_of_the_same_name_are_ignored(store):
    svc = Service(store, Settings())
    svc.init_cluster()
    svc.scale_app("light", 1)
    (node,) = store.list_nodes("light")
    store.put_observed("light", node.name, {"phase": "serving", "node_created": node.created - 5})
    assert svc.list_nodes("light")[0]["observed"] is None           # about the node before this one
    assert svc.get_app("light")["serving"] == 0
    gen = spec_generation(store.get_app("light"), store.get_pod("light"))
    store.put_observed("light", node.name, {"phase": "serving", "node_created": node.created, "health": {},
                                            "gen": gen})
    assert svc.list_nodes("light")[0]["observed"] == {"phase": "serving", "gen": gen}
    assert (svc.get_app("light")["serving"], svc.get_app("light")["updating"]) == (1, 0)
    # right after an update the record is about the old spec: not serving the app as it is now
    svc.update_app("light", {"cpus": 0.2})
    assert (svc.get_app("light")["serving"], svc.get_app("light")["updating"]) == (0, 1)
