"""The placer (control/placer.py) on the FakeStore, with a hand-moved clock:
a lost host keeps its nodes through the grace, then they move (records,
loads, events with numbers); a full pod leaves them pending; a host that
comes back clears them; a drain empties a host and says so; a node from
before pools is placed; the hosts of the settings are registered."""
from __future__ import annotations

import threading

import pytest

from orchestrator.control.placer import Placer
from orchestrator.core.model import Host, NodeStatus
from orchestrator.core.placement import Resources
from tests.bodies import app_spec, pod_spec
from tests.unit.fakes import Clock

GRACE = 10.0


@pytest.fixture
def light(store, cases):
    """Pod "pool" over hosts a and b (4 nodes each), app web with 3 nodes on each."""
    store.register_hosts([Host("a", 4, 1.0, 512), Host("b", 4, 1.0, 512)])
    cases.pods.register(pod_spec(name="pool", hosts=["a", "b"], max_nodes=4, cpus=0.25, memory_mb=128))
    cases.apps.deploy(app_spec(name="web", pod="pool", port=8000, image="img", replicas=6))
    clock = Clock(1000.0)
    return Placer(store, GRACE, 2.0, clock=clock), clock


def hosts_of(store):
    return {n.name: n.host for n in store.list_nodes("pool")}


def lose(store, host, since):
    store.put_link_state(host, {"reachable": False, "since": since, "error": "no route to host"})


def test_a_lost_hosts_nodes_move_after_the_grace_with_their_room(light, store):
    placer, clock = light
    assert sorted(hosts_of(store).values()) == ["a", "a", "a", "b", "b", "b"]
    assert placer.place_once() is None                               # nothing to do
    lose(store, "a", since=995.0)
    assert placer.place_once() == 1005.0                             # look again when its grace ends
    assert sorted(hosts_of(store).values()) == ["a", "a", "a", "b", "b", "b"]
    clock.now = 1005.0
    placer.place_once()
    assert sorted(hosts_of(store).values()) == ["a", "a", "b", "b", "b", "b"]   # b had room for one more


def test_nodes_without_room_wait_on_their_host_then_the_host_comes_back(light, store):
    placer, _ = light
    lose(store, "a", since=980.0)
    placer.place_once()
    nodes = {n.name: n for n in store.list_nodes("pool")}
    moved = [n for n in nodes.values() if n.moved_from == "a"]
    waiting = [n for n in nodes.values() if n.pending]
    assert len(moved) == 1 and moved[0].host == "b" and store.host_loads()["b"] == Resources(4, 1.0, 512)
    assert len(waiting) == 2 and all(n.host == "a" for n in waiting)
    assert waiting[0].pending == ("host a has been unreachable for longer than 10 s; pod pool has no room on "
                                  "its other hosts")
    kinds = [e.kind for e in store.events(10)]
    assert kinds.count("node.moved") == 1 and kinds.count("node.pending") == 2
    (event,) = [e for e in store.events(10) if e.kind == "node.moved"]
    assert event.message == f"node {moved[0].name} moved from a to b: host a has been unreachable for longer than 10 s"
    placer.place_once()                                              # said once: no new events
    assert [e.kind for e in store.events(10)] == kinds
    store.put_link_state("a", {"reachable": True, "since": 1001.0})
    placer.place_once()
    assert [n.pending for n in store.list_nodes("pool")] == [""] * 6
    assert store.host_loads()["a"] == Resources(2, 0.5, 256)


def test_a_drain_empties_the_host_and_says_so(store, cases):
    store.register_hosts([Host("a", 4, 1.0, 512), Host("b", 4, 1.0, 512)])
    cases.pods.register(pod_spec(name="pool", hosts=["a", "b"], max_nodes=4, cpus=0.25, memory_mb=128))
    cases.apps.deploy(app_spec(name="web", pod="pool", port=8000, image="img", replicas=4))
    placer = Placer(store, GRACE, 2.0, clock=Clock(1000.0))
    cases.pools.drain("b")
    placer.place_once()
    assert set(hosts_of(store).values()) == {"a"}
    assert store.host_loads()["a"] == Resources(4, 1.0, 512) and store.host_loads()["b"] == Resources()
    drained = [e.message for e in store.events(20) if e.kind == "host.drained"]
    assert drained == ["host b is drained: its 2 node(s) run on other hosts now; take it out of its pod with: "
                       "cloud host rm b"]
    assert all("is being drained" in e.message for e in store.events(20) if e.kind == "node.moved")
    cases.pools.remove("b")
    assert store.get_pod("pool").hosts == ("a",) and not store.get_host("b").draining


def test_a_cluster_from_before_pools_gets_its_hosts_and_its_nodes_placed(store, cases):
    placer = Placer(store, GRACE, 2.0, hosts=[Host("pod-light", 20, 5.0, 2560, "192.168.56.11")],
                    clock=Clock(1000.0))
    store.data["nodes/light/old"] = ({"name": "old", "pod": "light", "app": "light", "status": "ONLINE",
                                      "created": 1.0}, 1)                 # no host: written before pools
    store.data["pods/batch"] = ({"name": "batch", "host": "pod-old", "max_nodes": 4, "cpus": 0.5,
                                 "memory_mb": 256}, 1)                   # on a host nobody registered
    store.data["hosts/pod-old"] = ({"reachable": True, "since": 1.0}, 1)   # what hosts/ held before pools
    stop = threading.Event()
    thread = threading.Thread(target=placer.run, args=(stop,))
    thread.start()
    try:
        for _ in range(200):
            node = store.get_node("light", "old")
            if node.host:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        placer.wake.set()
        thread.join(5)
    assert (node.host, node.moved_from, node.status) == ("pod-light", "", NodeStatus.ONLINE)
    assert store.get_host("pod-light").address == "192.168.56.11"
    assert store.get_host("pod-old") == Host("pod-old", 4, 2.0, 1024)        # what its pods were promised
    assert any(e.kind == "node.placed" and "it was never placed" in e.message for e in store.events(10))
