"""Spare hosts: when the autoscaler adds one to a full pod, and when it gives it back (pure).

A *spare* is a host in no pod. When a pod has no room for what an autoscaled
app wants (the autoscaler's scale met a CapacityError), ``lend`` answers
which host to add to the pod: a host already lent to it that is being drained
(it takes nodes again: no need for another), else the spare that holds the
most nodes of the pod's size, among those that answer and are not draining;
None if there is none (the pod is full, as before).

Every pass, ``review`` looks at each host lent to a pod (``Pod.lent``):

* the pod has *room without it* when the pod's nodes on it would fit on the
  pod's other usable hosts; since when is remembered per host (the caller
  keeps the memory in etcd, ``spares/<pod>``); any moment without room, or
  an app of the pod wanting more than fits, forgets it;
* once the pod has had room without it for ``window`` seconds
  (``spare_return_window``), it is drained (the placer moves its nodes away,
  each new one serving before the old one drains);
* a lent host that is draining and has no node of the pod left is returned
  (taken out of the pod: a spare again).

Nothing here reads a clock or etcd: the caller passes ``now`` and the records.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from orchestrator.core.model import Host, Node, Pod
from orchestrator.core.placement import Pool, Resources
from orchestrator.core.pools import node_size, pool_of


@dataclass(frozen=True)
class SpareStep:
    """What to do with one host: ``lend`` it to the pod, ``undrain`` it (a lent
    host taken back into use), ``drain`` it, or ``return`` it to the spares."""

    kind: str
    pod: str
    host: str
    reason: str


def spares_of(hosts: Mapping[str, Host], pods: Sequence[Pod], unusable: Collection[str]) -> list[Host]:
    """The hosts in no pod that answer and are not draining."""
    taken = {h for p in pods for h in p.hosts}
    return [h for name, h in sorted(hosts.items())
            if name not in taken and name not in unusable and not h.draining]


def lend(pod: Pod, short: int, hosts: Mapping[str, Host], pods: Sequence[Pod],
         loads: Mapping[str, Resources], unusable: Collection[str]) -> SpareStep | None:
    """The host to add to ``pod``, which lacks room for ``short`` more nodes (module docstring)."""
    for name in pod.lent:
        if name in hosts and hosts[name].draining and name not in unusable:
            return SpareStep("undrain", pod.name, name, f"pod {pod.name} needs room for {short} more node(s) "
                                                        f"again: host {name} (lent to it) takes nodes again")
    need = node_size(pod)
    best, room = None, 0
    for host in spares_of(hosts, pods, unusable):
        alone = pool_of(replace(pod, hosts=(host.name,)), {host.name: host}, loads, ())
        fits = alone.free_nodes(need)
        if fits > room:
            best, room = host, fits
    if best is None:
        return None
    return SpareStep("lend", pod.name, best.name, f"pod {pod.name} is full and needs room for {short} more "
                                                  f"node(s); spare host {best.name} adds room for {room}")


def room_without(pod: Pod, host: str, hosts: Mapping[str, Host], loads: Mapping[str, Resources],
                 nodes: Sequence[Node], unusable: Collection[str]) -> tuple[bool, int, int]:
    """(whether the pod's nodes on ``host`` fit on its other usable hosts, how
    many of its nodes are on ``host``, how many more the others could take)."""
    others = replace(pod, hosts=tuple(h for h in pod.hosts if h != host))
    pool: Pool = pool_of(others, hosts, loads, nodes, unusable)
    on_it = sum(1 for n in nodes if n.pod == pod.name and n.host == host)
    free = pool.free_nodes(node_size(pod)) if others.hosts else 0
    return on_it <= free, on_it, free


def review(pods: Sequence[Pod], hosts: Mapping[str, Host], loads: Mapping[str, Resources],
           nodes: Sequence[Node], unusable: Collection[str], memory: Mapping[str, Mapping[str, float]],
           wanting: Collection[str], now: float, window: float) -> tuple[list[SpareStep], dict[str, dict[str, float]]]:
    """The steps for the hosts lent to ``pods`` and the new memory ({pod: {host:
    room since}}). ``wanting``: the pods an app wanted more of than fit in this
    pass (no room to spare there)."""
    steps: list[SpareStep] = []
    new_memory: dict[str, dict[str, float]] = {}
    for pod in pods:
        kept: dict[str, float] = {}
        for host in pod.lent:
            record = hosts.get(host)
            on_it = sum(1 for n in nodes if n.pod == pod.name and n.host == host)
            if record is not None and record.draining:
                if on_it == 0:
                    steps.append(SpareStep("return", pod.name, host, f"host {host} is drained of pod "
                                                                     f"{pod.name}: back to the spares"))
                continue
            fits, count, free = room_without(pod, host, hosts, loads, nodes, unusable)
            if not fits or pod.name in wanting:
                continue
            since = float(memory.get(pod.name, {}).get(host, now))
            if now - since >= window:
                steps.append(SpareStep("drain", pod.name, host,
                                       f"pod {pod.name} has had room without host {host} for {now - since:.0f} s "
                                       f"(its {count} node(s) there fit in the {free} free slot(s) of its other "
                                       f"hosts): draining it to give it back"))
            kept[host] = since
        if kept:
            new_memory[pod.name] = kept
    return steps, new_memory
