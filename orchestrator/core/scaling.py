"""Which nodes a replica count asks for, and their names (pure).

A use case reads the pod's node count (its guard, edges/store/etcd.py) and
then its nodes, asks ``plan_scale`` what to write, and writes it in one
transaction that holds only if the count is still the one it read; if not, it
reads again and asks again (``StaleCount``).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.core import validate
from orchestrator.core.model import App, Node, NodeStatus, Pod


@dataclass(frozen=True)
class ScalePlan:
    """What scaling an app to ``replicas`` writes: nodes to ``add``, names to
    ``remove`` (the newest first to go), and how many it had ``before``."""

    before: int
    add: list[Node] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)


def new_replicas(app: App, pod_nodes: Sequence[Node], count: int, now: float) -> list[Node]:
    """``count`` ONLINE nodes named <app>-<n>, numbered after the highest existing n
    (created a microsecond apart, so "oldest first" keeps their order)."""
    pattern = re.compile(rf"^{re.escape(app.name)}-(\d+)$")
    taken = [int(m.group(1)) for n in pod_nodes if (m := pattern.match(n.name))]
    start = max(taken, default=0) + 1
    return [Node(f"{app.name}-{start + i}", app.pod, app.name, NodeStatus.ONLINE,
                 created=now + i * 1e-6) for i in range(count)]


def plan_scale(app: App, pod: Pod, pod_nodes: Sequence[Node], used: int, replicas: int, now: float) -> ScalePlan:
    """Add or remove nodes until ``app`` has ``replicas`` in ``pod``, whose
    ``used`` node slots were read before ``pod_nodes``. CapacityError if the
    pod has no room for the nodes to add; removing takes the newest first."""
    mine = [n for n in pod_nodes if n.app == app.name]
    diff = replicas - len(mine)
    if diff > 0:
        validate.capacity(pod, used, diff)
        return ScalePlan(len(mine), add=new_replicas(app, pod_nodes, diff, now))
    if diff < 0:
        newest = sorted(mine, key=lambda n: (n.created, n.name))[diff:]
        return ScalePlan(len(mine), remove=[n.name for n in newest])
    return ScalePlan(len(mine))
