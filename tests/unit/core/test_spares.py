"""Spare hosts as pure decisions on traces (core/spares.py): a full pod gets a
spare, no spare leaves it full, the load gone for the window drains the lent
host, a drained one is returned, a lent host being drained is taken back when
the load returns."""
from __future__ import annotations

import dataclasses

from orchestrator.core.model import Host, Node, Pod
from orchestrator.core.placement import Resources
from orchestrator.core.spares import lend, review, room_without

WINDOW = 300.0
HOSTS = {"a": Host("a", 4, 1.0, 512), "b": Host("b", 4, 1.0, 512),
         "spare-1": Host("spare-1", 2, 0.5, 256), "spare-2": Host("spare-2", 8, 2.0, 1024)}
LIGHT = Pod("light", ("a", "b"), 4, 0.25, 128)
OTHER = Pod("other", ("spare-1",), 4, 0.25, 128)


def nodes_on(host: str, count: int, start: int = 1, pod: str = "light") -> list[Node]:
    return [Node(f"w-{i}", pod, "web", host=host, created=float(i)) for i in range(start, start + count)]


def loads_of(nodes: list[Node]) -> dict[str, Resources]:
    out: dict[str, Resources] = {}
    for n in nodes:
        out[n.host] = out.get(n.host, Resources()) + Resources(1, 0.25, 128)
    return out


def test_a_full_pod_gets_the_spare_with_the_most_room():
    full = nodes_on("a", 4) + nodes_on("b", 4, start=5)
    step = lend(LIGHT, 2, HOSTS, [LIGHT], loads_of(full), unusable=set())
    assert (step.kind, step.host) == ("lend", "spare-2")
    # room for 4: the pod's own limit per host (the rest of spare-2 stays for other pods)
    assert step.reason == "pod light is full and needs room for 2 more node(s); spare host spare-2 adds room for 4"


def test_no_spare_leaves_the_pod_full():
    full = nodes_on("a", 4) + nodes_on("b", 4, start=5)
    unusable = {"spare-2"}                                     # it does not answer; spare-1 is another pod's
    assert lend(LIGHT, 2, HOSTS, [LIGHT, OTHER], loads_of(full), unusable) is None
    draining = {**HOSTS, "spare-1": dataclasses.replace(HOSTS["spare-1"], draining=True)}
    assert lend(LIGHT, 2, draining, [LIGHT], loads_of(full), unusable) is None


def test_the_load_gone_for_the_window_drains_the_lent_host_then_returns_it():
    lent = dataclasses.replace(LIGHT, hosts=("a", "b", "spare-2"), lent=("spare-2",))
    busy = nodes_on("a", 4) + nodes_on("b", 4, start=5) + nodes_on("spare-2", 3, start=9)
    steps, memory = review([lent], HOSTS, loads_of(busy), busy, set(), {}, (), now=0.0, window=WINDOW)
    assert steps == [] and memory == {}                         # no room without it: it stays
    quiet = nodes_on("a", 2) + nodes_on("spare-2", 1, start=9)   # the scale-in emptied it first
    steps, memory = review([lent], HOSTS, loads_of(quiet), quiet, set(), memory, (), now=100.0, window=WINDOW)
    assert steps == [] and memory == {"light": {"spare-2": 100.0}}
    steps, memory = review([lent], HOSTS, loads_of(quiet), quiet, set(), memory, (), now=399.0, window=WINDOW)
    assert steps == []
    steps, memory = review([lent], HOSTS, loads_of(quiet), quiet, set(), memory, (), now=400.0, window=WINDOW)
    (drain,) = steps
    assert (drain.kind, drain.host) == ("drain", "spare-2")
    assert drain.reason == ("pod light has had room without host spare-2 for 300 s (its 1 node(s) there fit in "
                            "the 6 free slot(s) of its other hosts): draining it to give it back")
    # the placer moved its node away; the drained host goes back to the spares
    hosts = {**HOSTS, "spare-2": dataclasses.replace(HOSTS["spare-2"], draining=True)}
    moved = nodes_on("a", 3)
    steps, memory = review([lent], hosts, loads_of(moved), moved, set(), memory, (), now=410.0, window=WINDOW)
    assert [(s.kind, s.host) for s in steps] == [("return", "spare-2")] and memory == {}


def test_a_moment_of_need_restarts_the_window():
    lent = dataclasses.replace(LIGHT, hosts=("a", "b", "spare-2"), lent=("spare-2",))
    quiet = nodes_on("a", 2)
    _, memory = review([lent], HOSTS, loads_of(quiet), quiet, set(), {}, (), now=100.0, window=WINDOW)
    _, memory = review([lent], HOSTS, loads_of(quiet), quiet, set(), memory, {"light"}, now=200.0, window=WINDOW)
    assert memory == {}                                         # an app wanted more than fit
    steps, memory = review([lent], HOSTS, loads_of(quiet), quiet, set(), memory, (), now=420.0, window=WINDOW)
    assert steps == [] and memory == {"light": {"spare-2": 420.0}}


def test_a_lent_host_being_drained_is_taken_back_before_another_spare():
    lent = dataclasses.replace(LIGHT, hosts=("a", "b", "spare-2"), lent=("spare-2",))
    hosts = {**HOSTS, "spare-2": dataclasses.replace(HOSTS["spare-2"], draining=True)}
    full = nodes_on("a", 4) + nodes_on("b", 4, start=5) + nodes_on("spare-2", 2, start=9)
    step = lend(lent, 3, hosts, [lent], loads_of(full), unusable=set())
    assert (step.kind, step.host) == ("undrain", "spare-2")


def test_room_without_a_host_counts_the_other_pods_on_the_others():
    shared = nodes_on("a", 3, pod="other") + nodes_on("b", 4) + nodes_on("spare-2", 2, start=9)
    lent = dataclasses.replace(LIGHT, hosts=("a", "b", "spare-2"), lent=("spare-2",))
    assert room_without(lent, "spare-2", HOSTS, loads_of(shared), shared, set()) == (False, 2, 1)
