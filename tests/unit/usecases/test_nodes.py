"""Nodes: register, remove, list, logs and crash (hosts: FakeHosts), on the FakeStore."""
import pytest

from orchestrator.core.errors import CapacityError, Conflict, NotFound, Unavailable
from orchestrator.core.model import Container, NodeStatus, spec_generation
from orchestrator.usecases import UseCases
from tests.bodies import app_update, node_spec, pod_spec
from tests.unit.fakes import FakeHost, FakeHosts


def test_register_node_refusals_change_nothing(cases, store):
    before = dict(store.data)
    with pytest.raises(NotFound, match="pod 'nope' does not exist"):
        cases.nodes.register(node_spec("n1", "nope"))
    with pytest.raises(NotFound, match="app 'ghost' does not exist"):
        cases.nodes.register(node_spec("n1", "light", app="ghost"))
    with pytest.raises(Conflict, match="app 'heavy' runs in pod 'heavy', not 'light'"):
        cases.nodes.register(node_spec("n1", "light", app="heavy"))
    cases.pods.register(pod_spec(name="bare", host="pod-heavy", max_nodes=2, cpus=1, memory_mb=64))
    with pytest.raises(Conflict, match="has no default app; name one: cloud register n1 bare --app APP"):
        cases.nodes.register(node_spec("n1", "bare"))
    cases.nodes.register(node_spec("n1", "light"))
    with pytest.raises(Conflict, match="node 'n1' already exists in pod 'light'"):
        cases.nodes.register(node_spec("n1", "light"))
    assert [n["name"] for n in cases.nodes.list()] == ["n1"]
    assert set(store.data) - set(before) == {"pods/bare", "nodes/light/n1", "podcount/light", "hostload/pod-light"}
    assert store.get_node("light", "n1").host == "pod-light"


def test_capacity_of_a_pod_is_enforced(cases):
    for i in range(10):
        cases.nodes.register(node_spec(f"h{i}", "heavy"))
    with pytest.raises(CapacityError) as info:
        cases.nodes.register(node_spec("h10", "heavy"))
    assert info.value.message == ("pod 'heavy' is full: 10 nodes on pod-heavy (10/10 of this pod, 10/10 nodes, "
                                  "10/10 CPUs); remove nodes, add a host (cloud host add HOST heavy), "
                                  "or use another pod")
    cases.nodes.remove("heavy", "h3")
    cases.nodes.register(node_spec("h10", "heavy"))
    pod = next(p for p in cases.pods.list() if p["name"] == "heavy")
    assert (pod["used"], pod["free"], pod["statuses"]) == (10, 0, {"NEW": 10})


def test_remove_and_list_refusals(cases):
    cases.pods.register(pod_spec(name="batch", host="pod-heavy", max_nodes=2, cpus=1, memory_mb=64))
    with pytest.raises(NotFound, match="node 'x' does not exist in pod 'batch'"):
        cases.nodes.remove("batch", "x")
    with pytest.raises(NotFound, match="pod 'nope'"):
        cases.nodes.list("nope")


def test_logs_and_crash_use_the_newest_container_of_the_node(store):
    old = Container("sc-light.n1.aaaa", "light", "n1", "light", "exited", None, "img", "aaaa", "id1", 10.0)
    new = Container("sc-light.n1.bbbb", "light", "n1", "light", "running", "10.0.0.2", "img", "bbbb",
                    "id2", 20.0)
    host = FakeHost(images={"simplecloud/light"}, logs={"sc-light.n1.bbbb": "a\nb\nc"}, containers=[new, old])
    cases = UseCases.over(store, FakeHosts(host))
    cases.cluster.init()
    cases.nodes.register(node_spec("n1", "light"))
    assert cases.nodes.logs("light", "n1", tail=2)["logs"] == "b\nc"
    assert cases.nodes.logs("light", "n1")["container"] == "sc-light.n1.bbbb"
    with pytest.raises(NotFound, match="node 'n9' does not exist in pod 'light'"):
        cases.nodes.logs("light", "n9")
    with pytest.raises(Unavailable):
        UseCases.over(store).nodes.logs("light", "n1")
    assert cases.nodes.crash("light", "n1")["container"] == "sc-light.n1.bbbb"
    assert host.killed == ["sc-light.n1.bbbb"]
    host.containers = [old]
    with pytest.raises(Conflict, match="has no running container"):
        cases.nodes.crash("light", "n1")
    assert store.get_node("light", "n1").status == NodeStatus.NEW     # desired state untouched


def test_a_host_that_fails_is_unavailable_with_its_name(store):
    class Broken(FakeHost):
        def list_workers(self):
            raise OSError("connection reset")
    cases = UseCases.over(store, FakeHosts(Broken()))
    cases.cluster.init()
    cases.nodes.register(node_spec("n1", "light"))
    with pytest.raises(Unavailable, match="cannot reach host pod-light of pod light: connection reset"):
        cases.nodes.logs("light", "n1")


def test_observed_records_of_an_earlier_node_of_the_same_name_are_ignored(cases, store):
    cases.apps.scale("light", 1)
    (node,) = store.list_nodes("light")
    store.put_observed("light", node.name, {"phase": "serving", "node_created": node.created - 5})
    assert cases.nodes.list("light")[0]["observed"] is None           # about the node before this one
    assert cases.apps.get("light")["serving"] == 0
    gen = spec_generation(store.get_app("light"), store.get_pod("light"))
    store.put_observed("light", node.name, {"phase": "serving", "node_created": node.created, "health": {},
                                            "gen": gen})
    assert cases.nodes.list("light")[0]["observed"] == {"phase": "serving", "gen": gen}
    assert (cases.apps.get("light")["serving"], cases.apps.get("light")["updating"]) == (1, 0)
    # right after an update the record is about the old spec: not serving the app as it is now
    cases.apps.update("light", app_update(cpus=0.2))
    assert (cases.apps.get("light")["serving"], cases.apps.get("light")["updating"]) == (0, 1)
