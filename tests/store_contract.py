"""The Store contract: the same cases run on the unit tests' FakeStore
(tests/unit/edges/test_store_contract.py) and on the real Store over etcd
(tests/integration/test_store_contract.py), so the fake the use-case tests
rely on refuses and keeps what the real one does.

Each case takes a fresh, empty store (``edges.protocols.StoreProtocol``).
"""
from __future__ import annotations

import dataclasses
import time

import pytest

from orchestrator.core.errors import CapacityError, Conflict, NotFound, StaleCount
from orchestrator.core.model import App, Event, Node, NodeStatus, Pod
from orchestrator.core.schema import Autoscale


def pod(name="p1", max_nodes=3, app=None):
    return Pod(name, "pod-host", max_nodes, 0.25, 128, app=app)


def app(name="web", pod_name="p1"):
    return App(name=name, pod=pod_name, port=8000, image="simplecloud/light", path=f"/{name}", created=1.0)


def node(name, app_name="web", pod_name="p1", status=NodeStatus.ONLINE, created=None):
    return Node(name, pod_name, app_name, status, created=created if created is not None else time.time())


def with_app(store):
    store.put_pod(pod(), create=True)
    store.put_app(app(), create=True)


def state(store):
    """What a refusal must leave unchanged."""
    return (store.list_pods(), store.list_apps(), store.list_nodes(),
            {p.name: store.pod_node_count(p.name) for p in store.list_pods()})


def case_pods_are_created_once_and_updated_only_if_there(store):
    store.put_pod(pod(), create=True)
    with pytest.raises(Conflict, match="already exists"):
        store.put_pod(pod(), create=True)
    store.put_pod(dataclasses.replace(pod(), max_nodes=5), create=False)
    assert store.get_pod("p1").max_nodes == 5 and [p.name for p in store.list_pods()] == ["p1"]
    with pytest.raises(NotFound):
        store.put_pod(pod("nope"), create=False)
    assert store.get_pod("nope") is None


def case_an_app_needs_its_pod_and_a_free_name(store):
    with pytest.raises(NotFound, match="pod 'p1' does not exist"):
        store.put_app(app(), create=True)
    with_app(store)
    with pytest.raises(Conflict, match="already exists"):
        store.put_app(app(), create=True)
    with pytest.raises(NotFound):
        store.put_app(app("other"), create=False)
    assert store.get_app("web") == app()


def case_nodes_never_exceed_the_pod_and_a_refusal_writes_nothing(store):
    with_app(store)
    store.add_nodes("p1", [node("a"), node("b")])
    before = state(store)
    with pytest.raises(CapacityError):
        store.add_nodes("p1", [node("c"), node("d")])
    with pytest.raises(Conflict, match="already exists"):
        store.add_nodes("p1", [node("a")])
    with pytest.raises(NotFound):
        store.add_nodes("p1", [node("x", app_name="ghost")])
    assert state(store) == before
    assert store.pod_node_count("p1") == 2


def case_an_app_created_with_its_nodes_comes_with_them_or_not_at_all(store):
    store.put_pod(pod(max_nodes=2), create=True)
    with pytest.raises(CapacityError):
        store.add_nodes("p1", [node(n) for n in "abc"], create_app=app())
    assert store.get_app("web") is None and store.list_nodes() == []
    stored = store.add_nodes("p1", [node("a")], create_app=app())
    assert [n.name for n in stored] == ["a"] and store.get_app("web") == app()
    with pytest.raises(Conflict, match="already exists"):
        store.add_nodes("p1", [node("b")], create_app=app())


def case_a_count_read_before_a_change_makes_the_change_stale(store):
    with_app(store)
    count = store.pod_node_count("p1")
    store.add_nodes("p1", [node("a")])                   # another request, meanwhile
    with pytest.raises(StaleCount):
        store.add_nodes("p1", [node("b")], expect_count=count)
    with pytest.raises(StaleCount):
        store.remove_nodes("p1", ["a"], expect_count=count)
    assert [n.name for n in store.list_nodes("p1")] == ["a"]


def case_a_status_change_on_a_stale_read_is_refused(store):
    with_app(store)
    (read,) = store.add_nodes("p1", [node("a", status=NodeStatus.NEW)])
    online = store.update_node(dataclasses.replace(read, status=NodeStatus.ONLINE))
    assert online.status == NodeStatus.ONLINE and online.revision > read.revision
    with pytest.raises(Conflict):
        store.update_node(dataclasses.replace(read, status=NodeStatus.PAUSED))
    assert store.update_node(dataclasses.replace(read, status=NodeStatus.ONLINE)) == online   # a retry
    store.remove_nodes("p1", ["a"])
    with pytest.raises(NotFound):
        store.update_node(dataclasses.replace(online, status=NodeStatus.PAUSED))


def case_removing_is_all_or_nothing_and_an_app_goes_with_its_last_node(store):
    with_app(store)
    store.add_nodes("p1", [node("a"), node("b")])
    with pytest.raises(NotFound):
        store.remove_nodes("p1", ["a", "zz"])
    assert store.pod_node_count("p1") == 2
    with pytest.raises(StaleCount):
        store.remove_nodes("p1", ["a"], delete_app="web")     # b would be left without its app
    removed = store.remove_nodes("p1", ["a", "b"], delete_app="web")
    assert sorted(n.name for n in removed) == ["a", "b"]
    assert store.get_app("web") is None and store.pod_node_count("p1") == 0


def case_a_pod_goes_only_empty(store):
    with_app(store)
    store.add_nodes("p1", [node("a")])
    with pytest.raises(Conflict, match="still has 1 node"):
        store.delete_pod("p1")
    store.remove_nodes("p1", ["a"])
    with pytest.raises(Conflict, match="used by app"):
        store.delete_pod("p1")
    store.delete_app("web")
    assert store.delete_pod("p1") == pod() and store.get_pod("p1") is None
    with pytest.raises(NotFound):
        store.delete_pod("p1")


def case_nodes_list_oldest_first_and_by_pod(store):
    with_app(store)
    store.put_pod(pod("p2"), create=True)
    store.put_app(app("api", "p2"), create=True)
    store.add_nodes("p1", [node("late", created=20.0), node("early", created=10.0)])
    store.add_nodes("p2", [node("mid", app_name="api", pod_name="p2", created=15.0)])
    assert [n.name for n in store.list_nodes()] == ["early", "mid", "late"]
    assert [n.name for n in store.list_nodes("p2")] == ["mid"]
    assert store.get_node("p1", "early").revision > 0 and store.get_node("p1", "mid") is None


def case_events_come_newest_first(store):
    for i in range(3):
        store.record_event("test.kind", f"s/{i}", f"event {i}")
    assert [e.message for e in store.events(2)] == ["event 2", "event 1"]


def case_observed_records_and_host_states(store):
    with_app(store)
    store.add_nodes("p1", [node("a")])
    assert store.put_observed("p1", "a", {"phase": "serving", "node_created": 1.0})
    assert store.get_observed("p1", "a") == {"phase": "serving", "node_created": 1.0}
    assert store.list_observed() == {("p1", "a"): {"phase": "serving", "node_created": 1.0}}
    store.delete_observed("p1", "a")
    assert store.get_observed("p1", "a") is None and store.list_observed() == {}
    store.put_host_state("pod-host", {"reachable": False, "since": 1.0})
    assert store.list_host_states() == {"pod-host": {"reachable": False, "since": 1.0}}


def case_an_observed_record_lives_only_with_its_node_and_pod(store):
    with_app(store)
    store.add_nodes("p1", [node("a")])
    store.remove_nodes("p1", ["a"])
    assert not store.put_observed("p1", "a", {"phase": "serving"})      # a pass that looked before the removal
    assert store.list_observed() == {}
    store.add_nodes("p1", [node("b")])
    assert store.put_observed("p1", "b", {"phase": "serving"})
    store.remove_nodes("p1", ["b"], delete_app="web")
    store.delete_pod("p1")
    assert store.list_observed() == {}                                  # gone with its pod


def case_a_policy_is_kept_as_the_model_and_removing_it_forgets_the_memory(store):
    with_app(store)
    policy = Autoscale(min=1, max=4, rps=20)
    store.put_autoscale("web", policy)
    assert store.put_autoscale_state("web", {"state": {}, "last": None})
    assert store.get_autoscale("web") == policy and store.list_autoscale() == {"web": policy}
    assert store.list_autoscale_states() == {"web": {"state": {}, "last": None}}
    store.put_autoscale("web", None)
    assert store.get_autoscale("web") is None and store.list_autoscale_states() == {}


def case_a_policy_and_its_memory_belong_to_one_incarnation_of_the_app(store):
    with_app(store)
    first = store.get_app("web")
    store.put_autoscale("web", Autoscale(min=1, max=4, rps=20), created_revision=first.created_revision)
    assert store.put_autoscale_state("web", {"state": {}}, created_revision=first.created_revision)
    store.remove_nodes("p1", [], delete_app="web")                        # stopped: both go with it
    assert store.list_autoscale() == {} and store.list_autoscale_states() == {}
    assert not store.put_autoscale_state("web", {"state": {}}, created_revision=first.created_revision)
    with pytest.raises(NotFound):
        store.put_autoscale("web", Autoscale(min=1, max=4, rps=20), created_revision=first.created_revision)
    store.put_app(app(), create=True)                                     # the same name again
    assert not store.put_autoscale_state("web", {"state": {}}, created_revision=first.created_revision)
    assert store.list_autoscale() == {} and store.list_autoscale_states() == {}


def case_a_route_is_one_app_s(store):
    with_app(store)
    twin = dataclasses.replace(app("twin"), path="/web")
    before = state(store)
    with pytest.raises(Conflict, match="already the route of app 'web'"):
        store.put_app(twin, create=True)
    with pytest.raises(Conflict, match="already the route of app 'web'"):
        store.add_nodes("p1", [node("t-1", "twin")], create_app=twin)
    assert state(store) == before
    other = app("other")
    store.put_app(other, create=True)
    with pytest.raises(Conflict, match="already the route of app 'web'"):
        store.put_app(dataclasses.replace(store.get_app("other"), path="/web"), create=False)
    store.put_app(dataclasses.replace(store.get_app("web"), path="/moved"), create=False)
    store.put_app(twin, create=True)                                      # /web is free again
    store.remove_nodes("p1", [], delete_app="twin")
    store.put_app(dataclasses.replace(app("again"), path="/web"), create=True)   # and after a stop


def case_an_app_update_compares_the_revision_it_read(store):
    with_app(store)
    read = store.get_app("web")
    store.put_app(dataclasses.replace(read, port=8001), create=False)
    with pytest.raises(StaleCount):
        store.put_app(dataclasses.replace(read, port=8002), create=False)
    assert store.get_app("web").port == 8001
    with pytest.raises(NotFound):
        store.put_app(dataclasses.replace(app("ghost")), create=False)


def case_an_event_is_written_with_its_change_or_not_at_all(store):
    store.put_pod(pod(), create=True, event=Event.now("pod.registered", "pod/p1", "p1 registered"))
    with pytest.raises(Conflict):
        store.put_pod(pod(), create=True, event=Event.now("pod.registered", "pod/p1", "p1 again"))
    store.put_app(app(), create=True)
    store.add_nodes("p1", [node("a")], event=Event.now("app.scaled", "app/web", "one more"))
    with pytest.raises(CapacityError):
        store.add_nodes("p1", [node(n) for n in "bcd"], event=Event.now("app.scaled", "app/web", "too many"))
    store.remove_nodes("p1", ["a"], delete_app="web", event=Event.now("app.stopped", "app/web", "stopped"))
    assert [e.message for e in store.events(10)] == ["stopped", "one more", "p1 registered"]


def case_only_desired_state_wakes_the_controller(store):
    store.put_pod(pod(), create=True)
    assert store.wait_for_change(2.0)                    # a change since the store was made
    store.put_observed("p1", "a", {"phase": "starting"})
    store.record_event("test.kind", "s", "m")
    assert not store.wait_for_change(0.3)


CASES = [case for name, case in sorted(globals().items()) if name.startswith("case_")]
