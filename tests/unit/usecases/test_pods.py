"""Pods: register, remove, and the seed verbs (launch, pause, resume), on the FakeStore."""
import pytest

from orchestrator.core.errors import Conflict, NotFound, ValidationError
from orchestrator.core.model import NodeStatus
from tests.bodies import node_spec, pod_spec


def test_register_and_launch_oldest_new_node_first(cases, store):
    for name in ("n1", "n2", "n3"):
        node = cases.nodes.register(node_spec(name, "light"))
        assert node.status == NodeStatus.NEW and node.app == "light"
    assert cases.pods.launch("light").name == "n1"
    assert cases.pods.launch("light").name == "n2"
    statuses = {n["name"]: n["status"] for n in cases.nodes.list("light")}
    assert statuses == {"n1": NodeStatus.ONLINE, "n2": NodeStatus.ONLINE, "n3": NodeStatus.NEW}
    cases.pods.launch("light")
    with pytest.raises(Conflict) as info:
        cases.pods.launch("light")
    assert info.value.message == "pod light has no NEW node; register one with: cloud register NODE light"
    assert store.events(1)[0].kind == "node.launched"


def test_launch_takes_the_next_node_when_another_request_removed_the_first(cases, store):
    cases.nodes.register(node_spec("n1", "light"))
    cases.nodes.register(node_spec("n2", "light"))
    real = store.update_node

    def another_request_first(node, event=None):
        store.update_node = real
        store.remove_nodes("light", ["n1"])          # the other request
        return real(node, event)   # ours, on the stale read: NotFound, so the use case reads again

    store.update_node = another_request_first
    assert cases.pods.launch("light").name == "n2"


def test_pause_and_resume_move_only_the_right_nodes(cases):
    for name in ("a", "b", "c"):
        cases.nodes.register(node_spec(name, "medium"))
    cases.pods.launch("medium")
    cases.pods.launch("medium")
    paused = cases.pods.pause("medium")
    assert sorted(n.name for n in paused) == ["a", "b"]
    assert {n["name"]: n["status"] for n in cases.nodes.list("medium")} == \
        {"a": NodeStatus.PAUSED, "b": NodeStatus.PAUSED, "c": NodeStatus.NEW}
    assert cases.pods.pause("medium") == []
    assert sorted(n.name for n in cases.pods.resume("medium")) == ["a", "b"]
    assert all(n["status"] == NodeStatus.ONLINE for n in cases.nodes.list("medium") if n["name"] != "c")


def test_register_pod_uses_the_schema_defaults_and_refuses_a_taken_name(cases):
    pod = cases.pods.register(pod_spec(name="extra", host="Pod-Light"))
    assert (pod.hosts, pod.max_nodes, pod.cpus, pod.memory_mb) == (("pod-light",), 10, 0.5, 256)
    with pytest.raises(ValidationError, match="host 'al.yk4j0j' is not known; the known hosts are pod-heavy, "
                                              "pod-light, pod-medium") as info:
        cases.pods.register(pod_spec(name="m", hosts=["pod-light", "al.yk4j0j"], max_nodes=228))
    assert info.value.field == "hosts" and info.value.status == 400 and cases.pods.list()[-1]["name"] != "m"
    with pytest.raises(Conflict, match="already exists"):
        cases.pods.register(pod_spec(name="extra", host="pod-light"))
    with pytest.raises(Conflict, match="app 'light' runs in pod 'light'"):
        cases.pods.register(pod_spec(name="p3", host="pod-light", app="light"))


def test_remove_pod_only_when_empty_and_unused(cases):
    cases.pods.register(pod_spec(name="batch", host="pod-heavy", max_nodes=2, cpus=1, memory_mb=64))
    with pytest.raises(Conflict, match="used by app\\(s\\) light; stop them first"):
        cases.pods.remove("light")
    assert cases.pods.remove("batch").name == "batch"
    with pytest.raises(NotFound):
        cases.pods.remove("batch")


def test_list_shows_usage(cases):
    cases.nodes.register(node_spec("n1", "heavy"))
    pod = next(p for p in cases.pods.list() if p["name"] == "heavy")
    assert (pod["used"], pod["free"], pod["statuses"], pod["phases"]) == (1, 9, {"NEW": 1}, {"unknown": 1})
