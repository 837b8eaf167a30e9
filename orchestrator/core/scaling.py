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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.core.errors import CapacityError
from orchestrator.core.model import App, Node, NodeStatus, Pod
from orchestrator.core.placement import Pool, place, removal_order
from orchestrator.core.pools import node_size, placed


@dataclass(frozen=True)
class ScalePlan:
    """What scaling an app to ``replicas`` writes: nodes to ``add`` (placed;
    warm ones refill its pool), names to ``remove``, nodes to ``update`` (warm
    ones promoted to serve, serving ones turned warm), and how many serving
    replicas it had ``before``."""

    before: int
    add: list[Node] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    update: list[Node] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.add or self.remove or self.update)


def serving_nodes(nodes: Iterable[Node], app: str) -> list[Node]:
    """The nodes of ``app`` that count as its replicas: not warm, not REMOVED."""
    return [n for n in nodes if n.app == app and not n.warm and n.status != NodeStatus.REMOVED]


def new_replicas(app: App, pod_nodes: Sequence[Node], count: int, now: float, warm: int = 0) -> list[Node]:
    """``count`` ONLINE nodes named <app>-<n>, numbered after the highest existing n
    (created a microsecond apart, so "oldest first" keeps their order), the
    last ``warm`` of them warm; not placed yet."""
    pattern = re.compile(rf"^{re.escape(app.name)}-(\d+)$")
    taken = [int(m.group(1)) for n in pod_nodes if (m := pattern.match(n.name))]
    start = max(taken, default=0) + 1
    return [Node(f"{app.name}-{start + i}", app.pod, app.name, NodeStatus.ONLINE,
                 created=now + i * 1e-6, warm=i >= count - warm) for i in range(count)]


def placed_replicas(app: App, pod: Pod, pod_nodes: Sequence[Node], pool: Pool, count: int,
                    now: float, warm: int = 0, strict: bool = True) -> list[Node]:
    """``new_replicas`` (``count`` serving, then ``warm`` warm ones), each placed
    on a host of ``pool`` (core/placement.py ``place``, spread with the app's
    nodes already there). CapacityError, saying how full each host is, if
    they do not all fit; unless not ``strict``: then as many warm ones as fit
    (the serving ones must all fit)."""
    spread = Counter(n.host for n in pod_nodes if n.app == app.name and n.host)
    size = node_size(pod)
    for fill in range(warm, -1, -1):
        try:
            hosts = place(count + fill, size, pool, spread)
        except CapacityError:
            if strict or fill == 0:
                raise
            continue
        news = new_replicas(app, pod_nodes, count + fill, now, fill)
        return [dataclasses.replace(n, host=h) for n, h in zip(news, hosts)]
    return []   # not reached: fill 0 either places or raises


def plan_scale(app: App, pod: Pod, pod_nodes: Sequence[Node], pool: Pool, replicas: int, now: float,
               ready: Collection[str] = ()) -> ScalePlan:
    """What gives ``app`` ``replicas`` serving nodes in ``pod`` and a warm pool
    of ``app.warm`` nodes (docs/autoscaling.md, "Warm pools").

    Out: warm nodes are promoted first (those ``ready``, i.e. seen warm and
    healthy, before the others) and new serving nodes are added for the rest
    (they must all fit: CapacityError); the pool is not refilled here but
    later, in the background (``refill_due``), so that no container start
    competes with the promoted nodes. In: serving nodes become warm while the
    pool is short, the others are removed; extra warm nodes are removed. At
    the same replicas (a plan asked to resize the pool only), the pool is
    refilled with new warm nodes, as many as fit.
    Removal follows ``placement.removal_order``: nodes waiting for room, then
    those on hosts the pod should empty (lent to it, draining, unreachable),
    then the fullest host's newest; of the serving nodes taken out of
    service, those it would remove last are the ones kept warm. A plan
    never both adds and removes nodes."""
    mine = [n for n in pod_nodes if n.app == app.name]
    serving = [n for n in mine if not n.warm]
    warm = sorted((n for n in mine if n.warm), key=lambda n: (n.name not in ready, n.created, n.name))
    before = len(serving)
    if replicas > before:
        promote = [dataclasses.replace(n, warm=False) for n in warm[:replicas - before]]
        left = len(warm) - len(promote)
        add = placed_replicas(app, pod, pod_nodes, pool, replicas - before - len(promote), now) \
            if replicas - before > len(promote) else []
        return ScalePlan(before, add=add, update=promote,
                         remove=_removal(warm[len(promote):], left - app.warm, pod, pool))
    out = _removal(serving, before - replicas, pod, pool)
    keep_warm = min(len(out), max(0, app.warm - len(warm)))
    demoted = set(out[len(out) - keep_warm:])
    remove = out[:len(out) - keep_warm] + _removal(warm, len(warm) - app.warm, pod, pool)
    update = [dataclasses.replace(n, warm=True) for n in serving if n.name in demoted]
    short = app.warm - len(warm) - keep_warm         # > 0 only when nothing is removed
    add = placed_replicas(app, pod, pod_nodes, pool, 0, now, warm=short, strict=False) if short > 0 else []
    return ScalePlan(before, add=add, remove=remove, update=update)


def pool_short(app: App, nodes: Iterable[Node]) -> int:
    """How many warm nodes ``app``'s pool lacks (0 when it is full or over)."""
    have = sum(1 for n in nodes if n.app == app.name and n.warm and n.status != NodeStatus.REMOVED)
    return max(0, app.warm - have)


def refill_due(app: App, nodes: Sequence[Node], phases: Mapping[str, str | None], short_for: float,
               patience: float) -> bool:
    """Whether to refill ``app``'s warm pool now (``pool_short``): when every
    serving node of it serves and every warm node it has is warm
    (``phases``: node → observed phase), so the refill's container starts
    never queue before a promoted node's server, and a refill done in
    batches starts its next batch once the last one is ready; or when it
    has been short for ``patience`` seconds (``short_for``), whatever its
    nodes do (one that never serves must not keep the pool empty)."""
    if pool_short(app, nodes) == 0:
        return False
    mine = [n for n in nodes if n.app == app.name and n.status != NodeStatus.REMOVED]
    return short_for >= patience or all(phases.get(n.name) == ("warm" if n.warm else "serving") for n in mine)


def _removal(nodes: Sequence[Node], count: int, pod: Pod, pool: Pool) -> list[str]:
    if count <= 0:
        return []
    usable = pool.usable if pool.usable is not None else frozenset(pool.hosts)
    prefer = set(pod.lent) | (set(pod.hosts) - usable)
    return removal_order([placed(n, pod) for n in nodes], count, pool, prefer)
