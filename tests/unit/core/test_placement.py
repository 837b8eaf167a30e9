"""Placement as pure decisions on traces (core/placement.py): spreading by
free capacity, scale-in from the fullest host, a lost host, a returning host,
a full pod, a drain, a host leaving the pod."""
from __future__ import annotations

import dataclasses

import pytest

from orchestrator.core.errors import CapacityError
from orchestrator.core.model import Host, Node, Pod
from orchestrator.core.placement import Placed, Pool, Resources, place, removal_order, reschedule
from orchestrator.core.pools import added_load, node_size, pool_of, refusal, unreachable_since

LIGHT = Resources.node(0.25, 128)
HOST = Resources(20, 5.0, 2560)          # a light host: 20 × 0.25 CPU / 128 MiB


def pool(hosts=("a", "b"), used=None, pod_nodes=None, per_host=20, capacity=None, usable=None) -> Pool:
    return Pool("light", tuple(hosts), per_host, capacity or {h: HOST for h in hosts},
                used or {}, pod_nodes or {}, usable)


def nodes_on(host: str, count: int, start: int = 1, app: str = "web", created: float = 0.0) -> list[Placed]:
    return [Placed(f"{app}-{i}", app, host, created + i, 0.25, 128) for i in range(start, start + count)]


def used_by(nodes: list[Placed]) -> dict[str, Resources]:
    out: dict[str, Resources] = {}
    for n in nodes:
        out[n.host] = out.get(n.host, Resources()) + n.need
    return out


def test_new_nodes_spread_over_the_hosts_by_free_capacity():
    assert sorted(place(6, LIGHT, pool())) == ["a", "a", "a", "b", "b", "b"]


def test_a_host_shared_with_another_pod_takes_fewer():
    busy = pool(used={"a": Resources(10, 2.5, 1280)})          # another pod's nodes on a
    chosen = place(4, LIGHT, busy)
    assert chosen.count("b") > chosen.count("a")


def test_the_same_free_share_breaks_ties_by_the_apps_spread_then_name():
    assert place(1, LIGHT, pool(), spread={"a": 1}) == ["b"]
    assert place(1, LIGHT, pool()) == ["a"]


def test_cpu_is_a_resource_too():
    tight = pool(capacity={"a": Resources(20, 0.5, 2560), "b": Resources(20, 5.0, 2560)})
    assert place(4, LIGHT, tight).count("a") <= 2


def test_a_full_pod_refuses_all_and_names_each_host():
    full = pool(used={"a": Resources(20, 5.0, 2560), "b": Resources(20, 5.0, 2560)},
                pod_nodes={"a": 20, "b": 20})
    with pytest.raises(CapacityError) as err:
        place(1, LIGHT, full)
    assert "is full" in str(err.value) and "a (20/20" in str(err.value) and "cloud host add" in str(err.value)


def test_room_for_fewer_says_how_many():
    almost = pool(pod_nodes={"a": 19, "b": 20}, used={"a": Resources(19, 4.75, 2432),
                                                       "b": Resources(20, 5.0, 2560)})
    with pytest.raises(CapacityError) as err:
        place(3, LIGHT, almost)
    assert "room for 1 more" in str(err.value)


def test_the_pods_per_host_limit_holds_even_on_a_big_host():
    big = pool(hosts=("a",), capacity={"a": Resources(100, 100, 100000)}, per_host=2)
    assert place(2, LIGHT, big) == ["a", "a"]
    with pytest.raises(CapacityError):
        place(3, LIGHT, big)


def test_hosts_not_usable_take_nothing():
    assert set(place(3, LIGHT, pool(usable=frozenset({"b"})))) == {"b"}
    with pytest.raises(CapacityError) as err:
        place(1, LIGHT, pool(usable=frozenset()))
    assert "no host that can take nodes" in str(err.value)


def test_scale_in_takes_the_fullest_host_first_newest_first():
    nodes = nodes_on("a", 4) + nodes_on("b", 2, start=5)
    p = pool(used=used_by(nodes), pod_nodes={"a": 4, "b": 2})
    assert removal_order(nodes, 2, p) == ["web-4", "web-3"]
    assert len(set(removal_order(nodes, 4, p)) & {"web-5", "web-6"}) == 1   # then they are level


def test_scale_in_takes_waiting_nodes_first():
    nodes = nodes_on("a", 2) + [Placed("web-9", "web", "b", 0.5, 0.25, 128, pending="no room")]
    assert removal_order(nodes, 1, pool(used=used_by(nodes))) == ["web-9"]


def test_a_lost_host_keeps_its_nodes_during_the_grace_period():
    nodes = nodes_on("a", 3) + nodes_on("b", 3, start=4)
    p = pool(used=used_by(nodes), pod_nodes={"a": 3, "b": 3})
    assert reschedule(nodes, p, {"a": 100.0}, (), now=105.0, grace=10.0) == []


def test_after_the_grace_its_nodes_move_to_the_surviving_host():
    nodes = nodes_on("a", 3) + nodes_on("b", 3, start=4)
    p = pool(used=used_by(nodes), pod_nodes={"a": 3, "b": 3})
    moves = reschedule(nodes, p, {"a": 100.0}, (), now=111.0, grace=10.0)
    assert [(m.node, m.source, m.to, m.kind) for m in moves] == [
        ("web-1", "a", "b", "move"), ("web-2", "a", "b", "move"), ("web-3", "a", "b", "move")]
    assert "unreachable for longer than 10 s" in moves[0].reason


def test_a_full_pod_leaves_them_pending_with_the_reason_once():
    nodes = nodes_on("a", 3) + nodes_on("b", 19, start=4)
    p = pool(used=used_by(nodes), pod_nodes={"a": 3, "b": 19})
    moves = reschedule(nodes, p, {"a": 0.0}, (), now=60.0, grace=10.0)
    assert [m.kind for m in moves] == ["move", "pending", "pending"]
    assert "no room on its other hosts" in moves[1].reason
    # the next pass, with the first one moved and the others marked: nothing new
    after = [Placed(n.name, n.app, "b" if n.name == "web-1" else n.host, n.created, 0.25, 128,
                    next((m.reason for m in moves if m.node == n.name and m.kind == "pending"), ""))
             for n in nodes]
    p2 = pool(used=used_by(after), pod_nodes={"a": 2, "b": 20})
    assert reschedule(after, p2, {"a": 0.0}, (), now=70.0, grace=10.0) == []


def test_a_host_that_comes_back_clears_its_pending_nodes():
    nodes = nodes_on("a", 1) + [Placed("web-2", "web", "a", 2.0, 0.25, 128, pending="no room")]
    p = pool(used=used_by(nodes), pod_nodes={"a": 2})
    moves = reschedule(nodes, p, {}, (), now=80.0, grace=10.0)
    assert [(m.node, m.kind) for m in moves] == [("web-2", "clear")]


def test_a_drained_host_is_emptied_onto_the_others():
    nodes = nodes_on("a", 2) + nodes_on("b", 2, start=3)
    p = pool(hosts=("a", "b", "c"), used=used_by(nodes), pod_nodes={"a": 2, "b": 2})
    moves = reschedule(nodes, p, {}, {"a"}, now=0.0, grace=10.0)
    assert [(m.node, m.to) for m in moves] == [("web-1", "c"), ("web-2", "c")]
    assert all("drained" in m.reason for m in moves)


def test_a_host_that_left_the_pod_is_emptied_and_new_nodes_are_placed():
    nodes = nodes_on("spare", 1) + [Placed("web-7", "web", "", 7.0, 0.25, 128)]
    p = pool(capacity={"a": HOST, "b": HOST, "spare": HOST}, used=used_by(nodes))
    moves = reschedule(nodes, p, {}, (), now=0.0, grace=10.0)
    assert [(m.node, m.kind) for m in moves] == [("web-1", "move"), ("web-7", "move")]
    assert {m.to for m in moves} <= {"a", "b"}


def test_nodes_never_go_to_a_host_that_is_unreachable_even_within_its_grace():
    nodes = [Placed("web-1", "web", "", 1.0, 0.25, 128)]
    moves = reschedule(nodes, pool(), {"b": 99.0}, (), now=100.0, grace=10.0)
    assert [m.to for m in moves] == ["a"]


# ---------------------------------------------------------------- from the records (what the store checks)

LIGHT_POD = Pod("light", ("a", "b"), 20, 0.25, 128)
RECORDS = {"a": Host("a", 20, 5.0, 2560), "b": Host("b", 20, 5.0, 2560), "spare": Host("spare", 20, 5.0, 2560)}


def test_the_pool_of_a_pod_from_its_records():
    nodes = [Node("web-1", "light", "web", host="a"), Node("x-1", "other", "x", host="a"),
             Node("web-2", "light", "web")]                                   # never placed: counts nowhere
    draining = {**RECORDS, "b": dataclasses.replace(RECORDS["b"], draining=True)}
    p = pool_of(LIGHT_POD, draining, {"a": Resources(2, 0.5, 256)}, nodes, unusable=set())
    assert p.pod_nodes == {"a": 1} and p.used == {"a": Resources(2, 0.5, 256)}
    assert p.usable == frozenset({"a"}) and set(p.capacity) == {"a", "b"}
    lost = pool_of(LIGHT_POD, RECORDS, {}, nodes, unusable={"a"})
    assert lost.usable == frozenset({"b"})
    assert unreachable_since({"a": {"reachable": False, "since": 7.0}, "b": {"reachable": True}}) == {"a": 7.0}


def test_the_store_refuses_what_does_not_fit_and_says_where():
    p = pool_of(LIGHT_POD, RECORDS, {"a": Resources(19, 4.75, 2432)}, [Node(f"w{i}", "light", "web", host="a")
                                                                        for i in range(19)])
    need = node_size(LIGHT_POD)
    assert refusal(p, {"a": 1, "b": 5}, need) == ""
    assert refusal(p, {"a": 2}, need).startswith("pod 'light' has no room for 2 more node(s) on host a: "
                                                 "19 of 20 nodes of pod light")
    assert "not one of the hosts of pod light" in refusal(p, {"spare": 1}, need)
    assert added_load([Node("n", "light", "web", host="b")], need) == {"b": Resources(1, 0.25, 128)}
    assert added_load([Node("n", "light", "web", host="b")], need, -1) == {"b": Resources(-1, -0.25, -128)}


def test_scale_in_empties_the_hosts_to_give_back_first():
    nodes = nodes_on("a", 4) + nodes_on("lent", 2, start=5)
    p = pool(hosts=("a", "lent"), used=used_by(nodes), pod_nodes={"a": 4, "lent": 2},
             capacity={"a": HOST, "lent": Resources(40, 10.0, 5120)})
    assert removal_order(nodes, 2, p, prefer={"lent"}) == ["web-6", "web-5"]
    assert removal_order(nodes, 2, p) == ["web-4", "web-3"]                # else the fullest host first
