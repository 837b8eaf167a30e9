"""The scale plan as pure decisions (core/scaling.py): replicas with a warm
pool — promote warm nodes first, leave the refill to later (``refill_due``:
once the serving nodes serve), refill as room allows, turn serving nodes warm
on the way in, keep the first node warm at zero."""
from __future__ import annotations

import dataclasses

import pytest

from orchestrator.core.errors import CapacityError
from orchestrator.core.model import App, Host, Node, NodeStatus, Pod
from orchestrator.core.pools import added_load, node_size, pool_of
from orchestrator.core.scaling import ScalePlan, plan_scale, pool_short, refill_due, serving_nodes

POD = Pod("light", ("a", "b"), max_nodes=4, cpus=0.25, memory_mb=128)
HOSTS = {h: Host(h, nodes=20, cpus=5.0, memory_mb=2560) for h in POD.hosts}


def app(warm: int = 0) -> App:
    return App("web", "light", 80, image="nginx", warm=warm)


def nodes(serving: int, warm: int = 0, hosts: str = "ab") -> list[Node]:
    """``serving`` then ``warm`` nodes web-1.., spread over ``hosts`` in turn, read from a store."""
    return [Node(f"web-{i + 1}", "light", "web", NodeStatus.ONLINE, created=float(i), host=hosts[i % len(hosts)],
                 warm=i >= serving, revision=10 + i) for i in range(serving + warm)]


def plan(the_app: App, have: list[Node], replicas: int, ready=(), pod: Pod = POD) -> ScalePlan:
    pool = pool_of(pod, HOSTS, added_load(have, node_size(pod)), have)
    return plan_scale(the_app, pod, have, pool, replicas, now=100.0, ready=ready)


def after(have: list[Node], p: ScalePlan) -> list[Node]:
    """The nodes once the plan is written."""
    changed = {n.name: n for n in p.update}
    return [changed.get(n.name, n) for n in have if n.name not in p.remove] + p.add


def test_without_a_warm_pool_a_scale_adds_and_removes_as_before():
    p = plan(app(), nodes(2), 4)
    assert (p.before, [n.name for n in p.add], p.remove, p.update) == (2, ["web-3", "web-4"], [], [])
    assert not any(n.warm for n in p.add)
    assert plan(app(), nodes(4), 1).remove == ["web-4", "web-3", "web-2"]
    assert not plan(app(), nodes(2), 2)


def test_scale_out_promotes_warm_nodes_first_and_starts_nothing():
    have = nodes(2, warm=2)
    p = plan(app(warm=2), have, 4)
    assert [(n.name, n.warm, n.revision) for n in p.update] == [("web-3", False, 12), ("web-4", False, 13)]
    assert p.add == [] and p.remove == [] and p.before == 2          # the refill comes later
    result = after(have, p)
    assert len(serving_nodes(result, "web")) == 4 and pool_short(app(warm=2), result) == 2
    refill = plan(app(warm=2), result, 4)                            # what the refill writes
    assert [(n.name, n.warm) for n in refill.add] == [("web-5", True), ("web-6", True)] and not refill.update


def test_scale_out_past_the_pool_adds_only_serving_nodes():
    p = plan(app(warm=1), nodes(1, warm=1), 4)
    assert [n.name for n in p.update] == ["web-2"]
    assert [(n.name, n.warm) for n in p.add] == [("web-3", False), ("web-4", False)]


def test_the_warm_nodes_seen_ready_are_promoted_before_older_ones_still_starting():
    p = plan(app(warm=3), nodes(1, warm=3), 2, ready={"web-4"})
    assert [n.name for n in p.update] == ["web-4"]


def test_the_refill_takes_only_the_room_left_and_serving_nodes_come_first():
    small = dataclasses.replace(POD, max_nodes=2)           # 4 slots over a and b
    have = nodes(1, warm=2)
    p = plan(app(warm=2), have, 4, pod=small)
    assert len(p.update) == 2 and [(n.warm) for n in p.add] == [False]
    assert not plan(app(warm=2), after(have, p), 4, pod=small)          # no room left for a refill
    assert len(plan(app(warm=2), nodes(1, warm=1), 1, pod=small).add) == 1   # room for one of two
    with pytest.raises(CapacityError):
        plan(app(warm=2), have, 5, pod=small)


def test_scale_in_turns_serving_nodes_warm_while_the_pool_is_short_and_removes_the_rest():
    have = nodes(4, warm=1)
    p = plan(app(warm=2), have, 1)
    assert [n.warm for n in p.update] == [True] and len(p.remove) == 2 and p.add == []
    assert p.update[0].name not in p.remove and "web-5" not in p.remove
    result = after(have, p)
    assert len(serving_nodes(result, "web")) == 1 and sum(n.warm for n in result) == 2


def test_scale_in_with_a_full_pool_only_removes():
    p = plan(app(warm=1), nodes(3, warm=1), 1)
    assert p.update == [] and len(p.remove) == 2 and "web-4" not in p.remove


def test_scale_to_zero_keeps_the_first_node_warm():
    have = nodes(1)
    p = plan(app(warm=1), have, 0)
    assert [(n.name, n.warm) for n in p.update] == [("web-1", True)] and p.remove == [] and p.add == []
    assert serving_nodes(after(have, p), "web") == []
    # and the first request's scale to 1 only promotes it: no node is added
    woken = plan(app(warm=1), after(have, p), 1)
    assert [(n.name, n.warm) for n in woken.update] == [("web-1", False)] and woken.add == []


def test_a_short_pool_alone_is_refilled_and_an_extra_one_trimmed():
    p = plan(app(warm=3), nodes(2, warm=1), 2)
    assert [(n.name, n.warm) for n in p.add] == [("web-4", True), ("web-5", True)] and p.before == 2
    trimmed = plan(app(warm=1), nodes(2, warm=3), 2)
    assert len(trimmed.remove) == 2 and set(trimmed.remove) <= {"web-3", "web-4", "web-5"}
    assert plan(app(warm=0), nodes(2, warm=1), 3).update[0].name == "web-3"   # a pool set to 0 is used up


def test_a_plan_never_both_adds_and_removes_and_a_refill_completes_it():
    for warm in range(4):
        for pool_now in range(4):
            for serving in range(4):
                for replicas in range(6):
                    p = plan(app(warm=warm), nodes(serving, pool_now), replicas)
                    assert not (p.add and p.remove), (warm, pool_now, serving, replicas)
                    assert not any(n.warm for n in p.add) or replicas <= serving   # no refill on the way out
                    result = after(nodes(serving, pool_now), p)
                    assert len(serving_nodes(result, "web")) == replicas
                    refilled = after(result, plan(app(warm=warm), result, replicas))
                    assert len(serving_nodes(refilled, "web")) == replicas
                    assert sum(n.warm for n in refilled) == warm


def test_a_short_pool_is_refilled_once_its_serving_nodes_serve_or_after_its_patience():
    have = nodes(3, warm=0)
    serving = {"web-1": "serving", "web-2": "serving", "web-3": "starting"}
    assert pool_short(app(warm=2), have) == 2 and pool_short(app(warm=0), have) == 0
    assert not refill_due(app(warm=2), have, serving, short_for=0.0, patience=10.0)   # web-3 starts
    assert refill_due(app(warm=2), have, {**serving, "web-3": "serving"}, 0.0, 10.0)
    assert refill_due(app(warm=2), have, serving, short_for=10.0, patience=10.0)      # waited long enough
    assert not refill_due(app(warm=1), nodes(3, warm=1), {}, 99.0, 10.0)             # not short
    assert refill_due(app(warm=1), [], {}, 0.0, 10.0)                                # at zero: at once
    batch = nodes(1, warm=1)                                                         # a batch under way
    assert not refill_due(app(warm=3), batch, {"web-1": "serving", "web-2": "starting"}, 0.0, 10.0)
    assert refill_due(app(warm=3), batch, {"web-1": "serving", "web-2": "warm"}, 0.0, 10.0)
