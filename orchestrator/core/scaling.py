"""Which nodes a replica count asks for, their names and their hosts (pure).

A use case reads the pod's node count (its guard, edges/store/etcd.py), then
its nodes and the pool of its hosts (core/pools.py ``pool_of``), asks
``plan_scale`` what to write, and writes it in one transaction that holds
only if the count is still the one it read; if not, it reads again and asks
again (``StaleCount``).
"""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.core.model import App, Node, NodeStatus, Pod
from orchestrator.core.placement import Pool, place, removal_order
from orchestrator.core.pools import node_size, placed


@dataclass(frozen=True)
class ScalePlan:
    """What scaling an app to ``replicas`` writes: nodes to ``add`` (placed),
    names to ``remove``, and how many it had ``before``."""

    before: int
    add: list[Node] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)


def new_replicas(app: App, pod_nodes: Sequence[Node], count: int, now: float) -> list[Node]:
    """``count`` ONLINE nodes named <app>-<n>, numbered after the highest existing n
    (created a microsecond apart, so "oldest first" keeps their order); not placed yet."""
    pattern = re.compile(rf"^{re.escape(app.name)}-(\d+)$")
    taken = [int(m.group(1)) for n in pod_nodes if (m := pattern.match(n.name))]
    start = max(taken, default=0) + 1
    return [Node(f"{app.name}-{start + i}", app.pod, app.name, NodeStatus.ONLINE,
                 created=now + i * 1e-6) for i in range(count)]


def placed_replicas(app: App, pod: Pod, pod_nodes: Sequence[Node], pool: Pool, count: int,
                    now: float) -> list[Node]:
    """``new_replicas``, each placed on a host of ``pool`` (core/placement.py
    ``place``, spread with the app's nodes already there). CapacityError,
    saying how full each host is, if they do not all fit."""
    spread = Counter(n.host for n in pod_nodes if n.app == app.name and n.host)
    hosts = place(count, node_size(pod), pool, spread)
    return [dataclasses.replace(n, host=h) for n, h in zip(new_replicas(app, pod_nodes, count, now), hosts)]


def plan_scale(app: App, pod: Pod, pod_nodes: Sequence[Node], pool: Pool, replicas: int, now: float) -> ScalePlan:
    """Add or remove nodes until ``app`` has ``replicas`` in ``pod``. Added
    nodes are placed over ``pool`` (CapacityError if they do not all fit);
    removing follows ``placement.removal_order``: nodes waiting for room, then
    those on hosts the pod should empty (lent to it, draining, unreachable),
    then the fullest host's newest."""
    mine = [n for n in pod_nodes if n.app == app.name]
    diff = replicas - len(mine)
    if diff > 0:
        return ScalePlan(len(mine), add=placed_replicas(app, pod, pod_nodes, pool, diff, now))
    if diff < 0:
        usable = pool.usable if pool.usable is not None else frozenset(pool.hosts)
        prefer = set(pod.lent) | (set(pod.hosts) - usable)
        return ScalePlan(len(mine), remove=removal_order([placed(n, pod) for n in mine], -diff, pool, prefer))
    return ScalePlan(len(mine))
