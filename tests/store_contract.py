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

from orchestrator.core.errors import CapacityError, Conflict, NotFound, StaleCount, ValidationError
from orchestrator.core.model import App, Event, Host, Node, NodeStatus, Pod
from orchestrator.core.placement import Resources
from orchestrator.core.schema import Autoscale

HOST = Host("pod-host", 10, 2.5, 1280)


def pod(name="p1", max_nodes=3, app=None, hosts=("pod-host",)):
    return Pod(name, hosts, max_nodes, 0.25, 128, app=app)


def app(name="web", pod_name="p1"):
    return App(name=name, pod=pod_name, port=8000, image="simplecloud/light", path=f"/{name}", created=1.0)


def node(name, app_name="web", pod_name="p1", status=NodeStatus.ONLINE, created=None, host="pod-host"):
    return Node(name, pod_name, app_name, status, created=created if created is not None else time.time(),
                host=host)


def with_app(store):
    store.register_hosts([HOST])
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
    store.register_hosts([HOST])
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


def case_a_warm_node_changes_with_an_add_or_a_remove_in_one_write_or_not_at_all(store):
    with_app(store)
    warm, kept = store.add_nodes("p1", [dataclasses.replace(node("w"), warm=True), node("k")])
    assert warm.warm and store.get_node("p1", "w").warm
    count = store.pod_node_count("p1")
    store.add_nodes("p1", [dataclasses.replace(node("w2"), warm=True)], expect_count=count,
                    update=[dataclasses.replace(warm, warm=False)])              # promoted, the pool refilled
    assert not store.get_node("p1", "w").warm and store.pod_node_count("p1") == 3
    before = state(store)
    with pytest.raises(StaleCount):          # a second promotion on the same (now stale) read
        store.add_nodes("p1", [], expect_count=store.pod_node_count("p1"),
                        update=[dataclasses.replace(warm, warm=False)])
    with pytest.raises(StaleCount):
        store.remove_nodes("p1", ["w2"], expect_count=store.pod_node_count("p1"),
                           update=[dataclasses.replace(warm, warm=True)])
    assert state(store) == before
    current = store.get_node("p1", "k")
    store.remove_nodes("p1", ["w2"], expect_count=store.pod_node_count("p1"),
                       update=[dataclasses.replace(current, warm=True)])       # turned warm, one removed
    assert [(n.name, n.warm) for n in store.list_nodes("p1")] == [("w", False), ("k", True)]
    assert store.pod_node_count("p1") == 2


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


def case_observed_records_and_link_states(store):
    with_app(store)
    store.add_nodes("p1", [node("a")])
    assert store.put_observed("p1", "a", {"phase": "serving", "node_created": 1.0})
    assert store.get_observed("p1", "a") == {"phase": "serving", "node_created": 1.0}
    assert store.list_observed() == {("p1", "a"): {"phase": "serving", "node_created": 1.0}}
    store.delete_observed("p1", "a")
    assert store.get_observed("p1", "a") is None and store.list_observed() == {}
    store.put_link_state("pod-host", {"reachable": False, "since": 1.0})
    assert store.list_link_states() == {"pod-host": {"reachable": False, "since": 1.0}}
    store.put_spare_state("p1", {"spare-1": 5.0})
    assert store.list_spare_states() == {"p1": {"spare-1": 5.0}}
    store.put_spare_state("p1", {})
    assert store.list_spare_states() == {}


# ---------------------------------------------------------------- hosts and their guards


def two_pods_on_one_host(store, slots=4):
    """Pods p1 and p2 (4 × 0.25 CPU each) share host "shared" of ``slots`` slots, p1 also has "own"."""
    store.register_hosts([Host("shared", slots, 0.25 * slots, 128 * slots), Host("own", 4, 1.0, 512)])
    store.put_pod(pod("p1", max_nodes=4, hosts=("shared", "own")), create=True)
    store.put_pod(pod("p2", max_nodes=4, hosts=("shared",)), create=True)
    store.put_app(app("web", "p1"), create=True)
    store.put_app(app("api", "p2"), create=True)


def case_hosts_are_registered_once_and_keep_their_draining_flag(store):
    assert store.register_hosts([HOST, Host("b", 2, 1.0, 256)]) == ["pod-host", "b"]
    assert store.register_hosts([HOST]) == []                     # unchanged: nothing written
    assert store.set_draining("pod-host", True).draining
    bigger = Host("pod-host", 20, 5.0, 2560)
    assert store.register_hosts([bigger]) == ["pod-host"]
    assert store.get_host("pod-host") == Host("pod-host", 20, 5.0, 2560, draining=True)
    assert sorted(h.name for h in store.list_hosts()) == ["b", "pod-host"]
    with pytest.raises(NotFound):
        store.set_draining("nope", True)


def case_a_hosts_capacity_is_shared_by_its_pods_and_a_refusal_writes_nothing(store):
    two_pods_on_one_host(store, slots=4)
    store.add_nodes("p1", [node("a", host="shared"), node("b", host="shared"), node("c", host="own")])
    before = (state(store), store.host_loads())
    with pytest.raises(CapacityError, match="host shared"):
        store.add_nodes("p2", [node(n, "api", "p2", host="shared") for n in "xyz"])    # 2 slots left, not 3
    assert (state(store), store.host_loads()) == before
    store.add_nodes("p2", [node(n, "api", "p2", host="shared") for n in "xy"])
    assert store.host_loads()["shared"] == Resources(4, 1.0, 512)
    assert store.host_loads()["own"] == Resources(1, 0.25, 128)
    with pytest.raises(CapacityError):
        store.add_nodes("p1", [node("d", host="shared")])
    with pytest.raises(CapacityError, match="not one of the hosts"):
        store.add_nodes("p2", [node("z", "api", "p2", host="own")])
    store.remove_nodes("p1", ["a", "c"])
    assert store.host_loads()["shared"] == Resources(3, 0.75, 384)
    assert store.host_loads().get("own", Resources()) == Resources()


def case_a_move_takes_the_room_from_one_host_to_the_other(store):
    two_pods_on_one_host(store, slots=2)
    (a,) = store.add_nodes("p1", [node("a", host="own")])
    store.add_nodes("p2", [node("x", "api", "p2", host="shared")])
    (moved,) = store.move_nodes("p1", [dataclasses.replace(a, host="shared", moved_from="own")])
    assert (moved.host, moved.moved_from, moved.pending) == ("shared", "own", "")
    assert store.host_loads()["shared"] == Resources(2, 0.5, 256)
    assert store.host_loads().get("own", Resources()) == Resources()
    with pytest.raises(Conflict):                                    # a stale read
        store.move_nodes("p1", [dataclasses.replace(a, pending="why")])
    (b,) = store.add_nodes("p1", [node("b", host="own")])
    before = (state(store), store.host_loads())
    with pytest.raises(CapacityError):                               # "shared" is full now
        store.move_nodes("p1", [dataclasses.replace(b, host="shared", moved_from="own")])
    assert (state(store), store.host_loads()) == before
    (waiting,) = store.move_nodes("p1", [dataclasses.replace(b, pending="no room")])
    assert waiting.pending == "no room" and waiting.host == "own"


def case_a_host_joins_a_pod_only_if_known_and_leaves_it_only_empty(store):
    two_pods_on_one_host(store)
    with pytest.raises(ValidationError, match="known hosts are own, shared"):
        store.set_pod_hosts("p2", ["shared", "ghost"], [])
    store.register_hosts([Host("spare", 4, 1.0, 512)])
    store.set_draining("spare", True)
    grown = store.set_pod_hosts("p2", ["shared", "spare"], ["spare"], undrain="spare")
    assert grown.hosts == ("shared", "spare") and grown.lent == ("spare",)
    assert store.get_pod("p2") == grown and not store.get_host("spare").draining
    store.add_nodes("p2", [node("x", "api", "p2", host="spare")])
    with pytest.raises(Conflict, match="host spare still has 1 node"):
        store.set_pod_hosts("p2", ["shared"], [])
    store.remove_nodes("p2", ["x"])
    assert store.set_pod_hosts("p2", ["shared"], []).hosts == ("shared",)
    with pytest.raises(NotFound):
        store.set_pod_hosts("nope", ["shared"], [])


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
    store.register_hosts([HOST])
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
