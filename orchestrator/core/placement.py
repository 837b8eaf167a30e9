"""Placement: which host of a pod each node runs on (pure decisions, no I/O).

A pod is a pool of one or more hosts. A host's capacity (node slots, CPUs,
MiB) is shared by every pod on it; a pod also allows at most ``per_host`` of
its own nodes on one host (light: 20). The store checks the same sums in the
transaction that writes the node records, so two requests never both take
the last room; these functions only choose.

* ``place``: new nodes go, one by one, to the reachable host with the most
  free capacity (its scarcest resource, as a share), and among equals to the
  one with fewer nodes of the same app (spread), then by name.
* ``removal_order``: scale-in takes from the fullest host first, its newest
  node first (nodes waiting for room, then those on hosts to be emptied, first
  of all).
* ``reschedule``: nodes on a host that has been unreachable for longer than
  the grace period, on a host being drained, on a host no longer in the pod,
  or waiting for room (pending) are placed elsewhere, or marked pending with
  the reason when the pod has no room.
"""
from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.core.errors import CapacityError


@dataclass(frozen=True)
class Resources:
    """Node slots, CPUs and MiB: a host's capacity, or what is used of it."""

    nodes: int = 0
    cpus: float = 0.0
    memory_mb: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.nodes + other.nodes, round(self.cpus + other.cpus, 6),
                         self.memory_mb + other.memory_mb)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.nodes - other.nodes, round(self.cpus - other.cpus, 6),
                         self.memory_mb - other.memory_mb)

    def covers(self, need: Resources) -> bool:
        return (need.nodes <= self.nodes and need.cpus <= self.cpus + 1e-9
                and need.memory_mb <= self.memory_mb)

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "cpus": self.cpus, "memory_mb": self.memory_mb}

    @classmethod
    def node(cls, cpus: float, memory_mb: int) -> Resources:
        """What one node of that size takes."""
        return cls(1, cpus, memory_mb)


def free_share(capacity: Resources, used: Resources) -> float:
    """The free part (0..1) of a host's scarcest resource."""
    shares = [(capacity.nodes - used.nodes) / capacity.nodes if capacity.nodes else 0.0,
              (capacity.cpus - used.cpus) / capacity.cpus if capacity.cpus else 0.0,
              (capacity.memory_mb - used.memory_mb) / capacity.memory_mb if capacity.memory_mb else 0.0]
    return max(0.0, min(shares))


@dataclass(frozen=True)
class Pool:
    """What placement needs to know of a pod and its hosts right now."""

    pod: str
    hosts: tuple[str, ...]                       # the pod's hosts, in its order
    per_host: int                                # the pod's nodes allowed on one host
    capacity: Mapping[str, Resources]            # every host's capacity
    used: Mapping[str, Resources]                # every host's use, all pods together
    pod_nodes: Mapping[str, int] = field(default_factory=dict)   # this pod's nodes per host
    usable: frozenset[str] | None = None         # hosts that take new nodes (None: all of hosts)

    def targets(self) -> list[str]:
        return [h for h in self.hosts if (self.usable is None or h in self.usable) and h in self.capacity]

    def room_on(self, host: str, need: Resources) -> str:
        """Why ``need`` does not fit on ``host`` ("" if it does)."""
        cap, used = self.capacity[host], self.used.get(host, Resources())
        if self.pod_nodes.get(host, 0) + need.nodes > self.per_host:
            return f"{self.pod_nodes.get(host, 0)} of {self.per_host} nodes of pod {self.pod}"
        free = cap - used
        if need.nodes > free.nodes:
            return f"{used.nodes} of {cap.nodes} nodes"
        if need.cpus > free.cpus + 1e-9:
            return f"{free.cpus:g} of {cap.cpus:g} CPUs free"
        if need.memory_mb > free.memory_mb:
            return f"{free.memory_mb} of {cap.memory_mb} MiB free"
        return ""

    def take(self, host: str, need: Resources) -> Pool:
        """The pool after one node of size ``need`` went to ``host``."""
        used = dict(self.used)
        used[host] = used.get(host, Resources()) + need
        pod_nodes = dict(self.pod_nodes)
        pod_nodes[host] = pod_nodes.get(host, 0) + need.nodes
        return replace(self, used=used, pod_nodes=pod_nodes)

    def give_back(self, host: str, need: Resources) -> Pool:
        used = dict(self.used)
        used[host] = used.get(host, Resources()) - need
        pod_nodes = dict(self.pod_nodes)
        pod_nodes[host] = pod_nodes.get(host, 0) - need.nodes
        return replace(self, used=used, pod_nodes=pod_nodes)

    def free_nodes(self, need: Resources) -> int:
        """How many more nodes of size ``need`` fit over the usable hosts."""
        pool, count = self, 0
        while True:
            fits = [h for h in pool.targets() if not pool.room_on(h, need)]
            if not fits:
                return count
            pool, count = pool.take(fits[0], need), count + 1

    def describe(self) -> str:
        """Each host's use in words, for an error message."""
        parts = []
        for h in self.hosts:
            cap, used = self.capacity.get(h), self.used.get(h, Resources())
            if cap is None:
                parts.append(f"{h} (unknown host)")
                continue
            state = "" if self.usable is None or h in self.usable else ", not usable now"
            parts.append(f"{h} ({self.pod_nodes.get(h, 0)}/{self.per_host} of this pod, "
                         f"{used.nodes}/{cap.nodes} nodes, {used.cpus:g}/{cap.cpus:g} CPUs{state})")
        return ", ".join(parts)


def _best(pool: Pool, need: Resources, spread: Mapping[str, int]) -> str | None:
    fits = [h for h in pool.targets() if not pool.room_on(h, need)]
    if not fits:
        return None
    return max(fits, key=lambda h: (round(free_share(pool.capacity[h], pool.used.get(h, Resources())), 6),
                                    -spread.get(h, 0), [-ord(c) for c in h]))


def place(count: int, need: Resources, pool: Pool, spread: Mapping[str, int] | None = None) -> list[str]:
    """The host of each of ``count`` new nodes of size ``need`` (see the module
    docstring); ``spread``: the app's nodes per host already. CapacityError,
    saying how full each host is, if they do not all fit (nothing is chosen)."""
    spread_now = Counter(spread or {})
    chosen: list[str] = []
    before = pool
    for _ in range(count):
        host = _best(pool, need, spread_now)
        if host is None:
            raise CapacityError(_full_message(before, need, count, len(chosen)))
        chosen.append(host)
        pool = pool.take(host, need)
        spread_now[host] += 1
    return chosen


def _full_message(pool: Pool, need: Resources, wanted: int, fitted: int) -> str:
    total = sum(pool.pod_nodes.values())
    if not pool.targets():
        return (f"pod {pool.pod!r} has no host that can take nodes now ({pool.describe() or 'no hosts'}); "
                f"add a host (cloud host add HOST {pool.pod}) or wait for its hosts to answer")
    if fitted == 0:
        return (f"pod {pool.pod!r} is full: {total} nodes on {pool.describe()}; remove nodes, "
                f"add a host (cloud host add HOST {pool.pod}), or use another pod")
    return (f"pod {pool.pod!r} has room for {fitted} more node(s) of {need.cpus:g} CPU / "
            f"{need.memory_mb} MiB, cannot add {wanted} ({pool.describe()}); ask for at most "
            f"{fitted}, remove nodes, or add a host (cloud host add HOST {pool.pod})")


@dataclass(frozen=True)
class Placed:
    """A node as placement sees it."""

    name: str
    app: str
    host: str                 # "" before it was ever placed
    created: float = 0.0
    cpus: float = 0.0
    memory_mb: int = 0
    pending: str = ""         # why it waits for room ("" = it does not)

    @property
    def need(self) -> Resources:
        return Resources.node(self.cpus, self.memory_mb)


def _fullness(pool: Pool, n: Placed) -> tuple[float, float, str]:
    """How full ``n``'s host is (least free share first), then the newest node."""
    cap = pool.capacity.get(n.host)
    share = free_share(cap, pool.used.get(n.host, Resources())) if cap else -1.0
    return (-share, n.created, n.name)


def removal_order(nodes: Iterable[Placed], count: int, pool: Pool, prefer: Collection[str] = ()) -> list[str]:
    """Which ``count`` nodes a scale-in removes: from the fullest host first
    (least free share), its newest node first; nodes waiting for room first of
    all, then those on the hosts of ``prefer`` (lent, draining or unreachable
    hosts: a scale-in empties them before the others)."""
    left = sorted(nodes, key=lambda n: (n.created, n.name))
    chosen: list[str] = []
    for _ in range(min(count, len(left))):
        pending = [n for n in left if n.pending or not n.host]
        first = pending or [n for n in left if n.host in prefer]
        if first:
            pick = first[-1]
        else:
            pick = max(left, key=functools.partial(_fullness, pool))
        if pick.host:
            pool = pool.give_back(pick.host, pick.need)
        left.remove(pick)
        chosen.append(pick.name)
    return chosen


@dataclass(frozen=True)
class Move:
    """What happens to one node that cannot stay as it is:

    * ``to`` another host: it runs there (a new container; the old one goes);
    * ``to`` == "": it stays, marked pending with ``reason`` (no room elsewhere);
    * ``to`` == ``source``: it stays and is no longer pending (its host is fine again)."""

    node: str
    source: str
    to: str
    reason: str

    @property
    def kind(self) -> str:
        return "pending" if not self.to else "clear" if self.to == self.source else "move"


def reschedule(nodes: Iterable[Placed], pool: Pool, lost_since: Mapping[str, float],
               draining: Iterable[str], now: float, grace: float) -> list[Move]:
    """The moves of one pod's nodes (see the module docstring and ``Move``).

    ``lost_since``: hosts unreachable now, and since when; ``draining``: hosts
    being emptied. A node already pending for the same reason gives no move."""
    draining = set(draining)
    usable = frozenset(h for h in pool.hosts if h not in lost_since and h not in draining)
    pool = replace(pool, usable=usable if pool.usable is None else usable & pool.usable)
    spread = Counter(n.host for n in nodes)
    moves: list[Move] = []
    for n in sorted(nodes, key=lambda n: (n.created, n.name)):
        why = why_move(n, pool.hosts, lost_since, draining, now, grace)
        if not why:
            if n.pending:
                moves.append(Move(n.name, n.host, n.host, ""))
            continue
        target = _best(pool, n.need, spread)
        if target is None:
            reason = f"{why}; pod {pool.pod} has no room on its other hosts"
            if n.pending != reason:
                moves.append(Move(n.name, n.host, "", reason))
            continue
        moves.append(Move(n.name, n.host, target, why))
        pool = pool.take(target, n.need)
        spread[target] += 1
    return moves


def why_move(n: Placed, hosts: tuple[str, ...], lost_since: Mapping[str, float],
             draining: set[str], now: float, grace: float) -> str:
    """Why a node cannot stay on its host ("" if it can)."""
    if not n.host:
        return "it was never placed"
    if n.host not in hosts:
        return f"host {n.host} is no longer one of the pod's hosts"
    if n.host in draining:
        return f"host {n.host} is being drained"
    since = lost_since.get(n.host)
    if since is not None and now - since >= grace:
        return f"host {n.host} has been unreachable for longer than {grace:g} s"
    return ""
