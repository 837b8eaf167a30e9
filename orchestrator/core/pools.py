"""A pod's pool of hosts from the records, and what the store checks (pure).

core/placement.py decides over a ``Pool``; this module makes one from what
etcd holds (``pool_of``: the pod, the hosts' records, their loads, the
nodes, the hosts that do not answer), says what a node takes of its host
(``node_size``: its pod's node size), and what the store checks in the
transaction that writes nodes (``refusal``, ``added_load``). The link records
give the hosts that do not answer (``unreachable_since``); ``implied_hosts``
gives a cluster from before pools the hosts its pods name.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from orchestrator.core.model import Host, Node, Pod
from orchestrator.core.placement import Placed, Pool, Resources


def node_size(pod: Pod) -> Resources:
    """What one node of ``pod`` takes of its host: the pod's node size."""
    return Resources.node(pod.cpus, pod.memory_mb)


def capacity_of(host: Host) -> Resources:
    return Resources(host.nodes, host.cpus, host.memory_mb)


def placed(node: Node, pod: Pod) -> Placed:
    """A node record as placement sees it."""
    return Placed(node.name, node.app, node.host, node.created, pod.cpus, pod.memory_mb, node.pending)


def pool_of(pod: Pod, hosts: Mapping[str, Host], loads: Mapping[str, Resources], nodes: Iterable[Node],
            unusable: Collection[str] = ()) -> Pool:
    """The pool of ``pod`` from the records: its hosts' capacity (``hosts/``),
    every host's use by all pods (``hostload/``), its own nodes per host; the
    hosts that take new nodes are those known, not draining and not in
    ``unusable`` (unreachable now)."""
    pod_nodes = Counter(n.host for n in nodes if n.pod == pod.name and n.host)
    capacity = {h: capacity_of(hosts[h]) for h in pod.hosts if h in hosts}
    usable = frozenset(h for h in capacity if h not in unusable and not hosts[h].draining)
    return Pool(pod.name, pod.hosts, pod.max_nodes, capacity, dict(loads), dict(pod_nodes), usable)


def implied_hosts(pods: Iterable[Pod], known: Collection[str]) -> list[Host]:
    """A host record for each host a pod names that is not ``known``: what its
    pods were promised before pools (the sum of their max_nodes × node size),
    so a cluster from before pools keeps its capacity."""
    promised: dict[str, Resources] = {}
    for pod in pods:
        for host in pod.hosts:
            if host not in known:
                size = node_size(pod)
                step = Resources(pod.max_nodes, round(size.cpus * pod.max_nodes, 6), size.memory_mb * pod.max_nodes)
                promised[host] = promised.get(host, Resources()) + step
    return [Host(h, r.nodes, r.cpus, r.memory_mb) for h, r in sorted(promised.items())]


def unreachable_since(links: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The hosts whose link record (``links/<host>``) says unreachable, and since when."""
    return {h: float(s.get("since") or 0.0) for h, s in links.items() if s.get("reachable") is False}


def added_load(nodes: Iterable[Node], need: Resources, sign: int = 1) -> dict[str, Resources]:
    """What ``nodes`` (placed ones) add to each host's use (``sign`` -1: take away)."""
    out: dict[str, Resources] = {}
    for n in nodes:
        if n.host:
            step = need if sign > 0 else Resources() - need
            out[n.host] = out.get(n.host, Resources()) + step
    return out


def refusal(pool: Pool, added: Mapping[str, int], need: Resources) -> str:
    """Why ``added`` nodes (count per host) of size ``need`` do not fit on their
    hosts ("" if they do): what the store checks in the transaction that writes them."""
    for host, count in sorted(added.items()):
        if count <= 0:
            continue
        if host not in pool.hosts:
            return f"host {host} is not one of the hosts of pod {pool.pod} ({', '.join(pool.hosts)})"
        if host not in pool.capacity:
            return f"host {host} is not a known host (see: cloud host ls)"
        why = pool.room_on(host, Resources(count, round(need.cpus * count, 6), need.memory_mb * count))
        if why:
            return (f"pod {pool.pod!r} has no room for {count} more node(s) on host {host}: {why} "
                    f"({pool.describe()})")
    return ""
