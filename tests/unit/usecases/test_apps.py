"""Apps: deploy, scale, update, stop, and what is shown of them, on the FakeStore."""
import dataclasses

import pytest

from orchestrator.core.errors import CapacityError, Conflict, NotFound
from orchestrator.core.model import NodeStatus
from orchestrator.usecases import UseCases
from tests.bodies import app_spec, app_update, node_spec
from tests.unit.fakes import FakeHost, FakeHosts


def test_deploy_creates_app_and_online_replicas_in_one_write(cases, store):
    writes = store.writes
    result = cases.apps.deploy(app_spec(name="echo", command=["nc", "-lk", "-p", "9000"], pod="light",
                                        replicas=3, port=9000, balance="leastconn"))
    assert store.writes == writes + 1
    assert result["replicas"] == 3 and result["command"] == ["nc", "-lk", "-p", "9000"]
    assert [n["name"] for n in result["nodes"]] == ["echo-1", "echo-2", "echo-3"]
    assert all(n["status"] == NodeStatus.ONLINE for n in cases.nodes.list("light"))
    assert store.get_app("echo").path == "/echo"
    with pytest.raises(Conflict, match="app 'echo' already exists"):
        cases.apps.deploy(app_spec(name="echo", image="nginx", pod="light", port=80))


def test_deploy_refusals_write_nothing(cases, store):
    before = dict(store.data)
    base = {"name": "web", "image": "nginx:1.25", "pod": "heavy", "port": 80}
    with pytest.raises(CapacityError, match="room for 10 more"):
        cases.apps.deploy(app_spec(**base, replicas=11))
    with pytest.raises(NotFound, match="pod 'nowhere'"):
        cases.apps.deploy(app_spec(**{**base, "pod": "nowhere"}))
    with pytest.raises(Conflict, match="path '/light' is already the route of app 'light'"):
        cases.apps.deploy(app_spec(**base, path="/light"))
    with pytest.raises(Conflict, match="more than the node size"):
        cases.apps.deploy(app_spec(**base, cpus=2))
    assert store.data == before


def test_deploy_checks_the_image_on_the_pod_host(store):
    hosts = FakeHosts(FakeHost(images={"nginx:1.25", "debian:bookworm-slim"}))
    cases = UseCases.over(store, hosts)
    cases.cluster.init()
    with pytest.raises(Conflict, match="image 'nginx:9' does not exist on host pod-medium"):
        cases.apps.deploy(app_spec(name="web", image="nginx:9", pod="medium", port=80))
    assert store.get_app("web") is None
    cases.apps.deploy(app_spec(name="web", image="nginx:1.25", pod="medium", port=80))
    cases.apps.deploy(app_spec(name="nc", command=["nc", "-lk"], pod="medium", port=9, replicas=0))
    assert hosts.asked == ["pod-medium"] * 3


def test_scale_up_and_down_removes_newest(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=2))
    assert cases.apps.scale("web", 5)["replicas"] == 5
    assert sorted(n["name"] for n in cases.nodes.list("medium")) == [f"web-{i}" for i in range(1, 6)]
    result = cases.apps.scale("web", 2)
    assert [n["name"] for n in result["nodes"]] == ["web-1", "web-2"]
    assert cases.apps.scale("web", 2)["replicas"] == 2          # no-op
    assert cases.apps.scale("web", 3)["nodes"][-1]["name"] == "web-3"
    assert cases.apps.scale("web", 0)["replicas"] == 0
    assert store.pod_node_count("medium") == 0
    assert store.events(1)[0].kind == "app.scaled"


def test_scale_refusals(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="heavy", port=80, replicas=8))
    cases.nodes.register(node_spec("extra", "heavy"))
    before = dict(store.data)
    with pytest.raises(CapacityError, match="room for 1 more node"):
        cases.apps.scale("web", 11)
    with pytest.raises(NotFound, match="app 'nope'"):
        cases.apps.scale("nope", 1)
    assert store.data == before
    assert cases.apps.scale("web", 9)["replicas"] == 9


def test_scale_recomputes_when_the_pod_changed_meanwhile(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1))
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
    assert cases.apps.scale("web", 3)["replicas"] == 3          # recomputed, not 4
    assert sorted(n.name for n in store.list_nodes("medium")) == ["other", "web-1", "web-2", "web-3"]


def test_stop_app_removes_nodes_and_app(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="light", port=80, replicas=4))
    cases.nodes.register(node_spec("keep", "light"))
    result = cases.apps.stop("web")
    assert len(result["removed"]) == 4
    assert store.get_app("web") is None
    assert [n.name for n in store.list_nodes("light")] == ["keep"]
    assert store.pod_node_count("light") == 1
    with pytest.raises(NotFound):
        cases.apps.stop("web")
    cases.apps.deploy(app_spec(name="idle", image="nginx", pod="light", port=80, replicas=0))
    assert cases.apps.stop("idle")["removed"] == []


def test_list_and_get(cases):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="light", port=80, replicas=2))
    cases.nodes.register(node_spec("n1", "light"))
    apps = {a["name"]: a for a in cases.apps.list()}
    assert apps["web"]["replicas"] == 2 and apps["web"]["statuses"] == {"ONLINE": 2}
    assert apps["light"]["replicas"] == 1 and apps["light"]["statuses"] == {"NEW": 1}
    assert apps["web"]["autoscale"] is None
    assert cases.apps.get("web")["nodes"][0]["name"] == "web-1"


def test_update_app_changes_only_what_is_asked(store):
    cases = UseCases.over(store, FakeHosts(FakeHost(images={"simplecloud/light", "img:v2"})))
    cases.cluster.init()
    out = cases.apps.update("light", app_update(image="img:v2", balance="leastconn"))
    assert out["changed"] == ["image", "balance"]
    app = store.get_app("light")
    assert (app.image, app.balance, app.path) == ("img:v2", "leastconn", "/light")
    assert cases.apps.update("light", app_update(balance="leastconn"))["changed"] == []
    with pytest.raises(Conflict, match="does not exist on host"):
        cases.apps.update("light", app_update(image="missing:1"))
    with pytest.raises(Conflict, match="more than the node size"):
        cases.apps.update("light", app_update(cpus=2))
    with pytest.raises(Conflict, match="needs a route: keep a path or a host"):
        cases.apps.update("light", app_update(path=None))
    with pytest.raises(Conflict, match="already the route of app 'medium'"):
        cases.apps.update("light", app_update(path="/medium"))
    assert store.get_app("light") == app                                # refusals change nothing


# ---------------------------------------------------------------- warm pools

def test_deploy_with_a_warm_pool_creates_its_warm_nodes_in_the_same_write(cases, store):
    writes = store.writes
    result = cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=2, warm=2))
    assert store.writes == writes + 1
    assert (result["replicas"], result["warm"], result["warm_nodes"]) == (2, 2, 2)
    assert [(n.name, n.warm) for n in store.list_nodes("medium")] == \
        [("web-1", False), ("web-2", False), ("web-3", True), ("web-4", True)]
    assert store.pod_node_count("medium") == 4                 # warm nodes take their room
    assert "and 2 warm node(s)" in store.events(1)[0].message


def test_a_warm_pool_that_does_not_fit_is_refused_and_nothing_is_written(cases, store):
    before = dict(store.data)
    with pytest.raises(CapacityError):
        cases.apps.deploy(app_spec(name="web", image="nginx", pod="heavy", port=80, replicas=8, warm=3))
    assert store.data == before
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="heavy", port=80, replicas=8))
    before = dict(store.data)
    with pytest.raises(CapacityError):
        cases.apps.update("web", app_update(warm=3))
    assert store.data == before


def test_scale_out_promotes_warm_nodes_in_one_write_and_fill_pool_refills_it(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1, warm=2))
    warm = [n.name for n in store.list_nodes("medium") if n.warm]
    writes = store.writes
    result = cases.apps.scale("web", 3)
    assert store.writes == writes + 1
    nodes = {n.name: n for n in store.list_nodes("medium")}
    assert all(not nodes[name].warm for name in warm)           # the same nodes, now serving
    assert (result["replicas"], result["warm_nodes"]) == (3, 0) and len(nodes) == 3
    assert store.events(1)[0].message == "app web scaled from 1 to 3 replica(s)"
    assert cases.apps.fill_pool(store.get_app("web")) == 2      # the refill (control/warm_pools.py)
    assert (cases.apps.get("web")["replicas"], cases.apps.get("web")["warm_nodes"]) == (3, 2)
    assert cases.apps.fill_pool(store.get_app("web")) == 0


def test_scale_in_turns_serving_nodes_warm_then_removes_and_zero_keeps_one_warm(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=3, warm=1))
    cases.apps.scale("web", 4)                                  # 4 serving, 1 warm
    store.remove_nodes("medium", [n.name for n in store.list_nodes("medium") if n.warm])   # pool short
    assert cases.apps.scale("web", 1)["warm_nodes"] == 1         # one turned warm, two removed
    assert len(store.list_nodes("medium")) == 2
    result = cases.apps.scale("web", 0)
    assert (result["replicas"], result["warm_nodes"]) == (0, 1)


def test_update_resizes_the_warm_pool(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1))
    result = cases.apps.update("web", app_update(warm=3))
    assert result["changed"] == ["warm"] and (result["replicas"], result["warm_nodes"]) == (1, 3)
    assert store.events(1)[0].message == "app web updated: warm; its warm pool is resized"
    assert cases.apps.update("web", app_update(warm=1))["warm_nodes"] == 1
    assert cases.apps.update("web", app_update(warm=0))["warm_nodes"] == 0
    assert [n.name for n in store.list_nodes("medium")] == ["web-1"]


def test_a_concurrent_change_of_a_warm_node_makes_the_scale_read_again(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1, warm=1))
    real = store.list_nodes
    calls = []

    def racing(pod=None):
        nodes = real(pod)
        if not calls:       # another manager promotes the warm node after this read
            calls.append(1)
            warm = next(n for n in nodes if n.warm)
            store.update_nodes([dataclasses.replace(warm, warm=False)])
        return nodes
    store.list_nodes = racing
    cases.apps.scale("web", 3)
    store.list_nodes = real
    mine = store.list_nodes("medium")
    assert sum(not n.warm for n in mine) == 3 and sum(n.warm for n in mine) == 0   # one promoted, one added
