"""The placer: nodes off lost and draining hosts, onto the others (the leader only).

Every pass (``place_once``), per pod: the pure ``core.placement.reschedule``
looks at its nodes, its hosts' capacity and load, the links' state
(``links/<host>``: unreachable since when), the draining hosts and the grace
period (``host_grace``), and answers moves. The placer writes them through
``Store.move_nodes`` (one fenced transaction per pod, under the pod and host
guards), and says each in an event with its numbers:

* a node whose host has been unreachable for longer than the grace, or is
  being drained, or left the pod, is placed on another host of its pod
  (``host``, ``moved_from``): the new host's reconciler starts it there, and
  the old host's retires the old container once the new one serves, at once
  if the old one does not serve (a lost host's servers are deleted by the new
  host's reconciler: core/plan.py);
* a node that has no room anywhere stays where it is, ``pending`` with the
  reason, until there is room or its host is fine again;
* a node that was never placed (a record from before pools) is placed.

A host that comes back within the grace keeps its nodes. The placer wakes on
a change of desired state or of a link (the controller), when a host's grace
ends, and every ``interval`` seconds. It also registers the hosts of the
settings when its term begins (``Store.register_hosts``: a host missing or
changed), so a leader that started while etcd was down still does it, and
a host that a pod names but nobody registered (a cluster from before pools)
with the capacity its pods were promised (``core.pools.implied_hosts``).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from orchestrator.core import errors
from orchestrator.core.model import Event, Host, Node, Pod
from orchestrator.core.placement import Move, reschedule
from orchestrator.core.pools import implied_hosts, placed, pool_of, unreachable_since
from orchestrator.edges.protocols import StoreProtocol


class Placer:
    """Reschedules the nodes of every pod (see the module docstring)."""

    def __init__(self, store: StoreProtocol, grace: float, interval: float, hosts: Sequence[Host] = (),
                 log: logging.Logger | None = None, clock: Callable[[], float] = time.time):
        """``store``: the leader's (fenced) store; ``grace``: seconds a host may
        be unreachable before its nodes move (``host_grace``); ``interval``:
        seconds between passes when nothing wakes it; ``hosts``: the hosts of
        the settings, registered when a term begins."""
        self.store = store
        self.grace = grace
        self.interval = interval
        self.hosts = list(hosts)
        self.log = log or logging.getLogger("orchestrator.placer")
        self.clock = clock
        self.wake = threading.Event()
        self._draining_seen: dict[str, int] = {}     # draining host → its nodes at the last pass

    def run(self, stop: threading.Event) -> None:
        """Place until ``stop`` (a term's end) is set."""
        registered = False
        while not stop.is_set():
            self.wake.clear()
            wake_at = None
            try:
                if not registered:
                    self._register()
                    registered = True
                wake_at = self.place_once()
            except errors.NotLeader as exc:
                self.log.info("not the leader any more: %s", exc)
                return
            except errors.SimpleCloudError as exc:
                self.log.warning("placement pass failed: %s", exc)
            timeout = self.interval if wake_at is None else max(0.05, min(self.interval, wake_at - self.clock()))
            self.wake.wait(timeout)

    def _register(self) -> None:
        written = self.store.register_hosts(self.hosts)
        known = {h.name for h in self.store.list_hosts()}
        written += self.store.register_hosts(implied_hosts(self.store.list_pods(), known))
        if written:
            self._event("host.registered", "cluster", f"host(s) {', '.join(written)} registered from the settings")

    # ------------------------------------------------------------ one pass
    def place_once(self) -> float | None:
        """One pass over every pod; returns when to look again (a grace ends), if sooner."""
        now = self.clock()
        hosts = {h.name: h for h in self.store.list_hosts()}
        lost = unreachable_since(self.store.list_link_states())
        draining = {h.name for h in hosts.values() if h.draining}
        nodes = self.store.list_nodes()
        before = Counter(n.host for n in nodes if n.host in draining)
        self._draining_seen = {h: max(self._draining_seen.get(h, 0), before[h]) for h in draining}
        wake_at = None
        for pod in sorted(self.store.list_pods(), key=lambda p: p.name):
            mine = [n for n in nodes if n.pod == pod.name]
            pool = pool_of(pod, hosts, self.store.host_loads(), nodes, set(lost))
            moves = reschedule([placed(n, pod) for n in mine], pool, lost, draining, now, self.grace)
            if moves:
                self._apply(pod, mine, moves)
            for host in {n.host for n in mine} & set(lost):
                if now - lost[host] < self.grace:
                    due = lost[host] + self.grace
                    wake_at = due if wake_at is None else min(wake_at, due)
        if draining:
            self._report_drained(self.store.list_nodes())
        return wake_at

    def _apply(self, pod: Pod, nodes: list[Node], moves: list[Move]) -> None:
        by_name = {n.name: n for n in nodes}
        changed = []
        for m in moves:
            n = by_name[m.node]
            if m.kind == "move":
                changed.append(dataclasses.replace(n, host=m.to, moved_from=m.source or n.moved_from, pending=""))
            else:
                changed.append(dataclasses.replace(n, pending=m.reason))
        news = [self._news(pod, m) for m in moves]
        try:
            self.store.move_nodes(pod.name, changed, news)      # the events in the same transaction
        except (errors.Conflict, errors.NotFound) as exc:      # CapacityError is a Conflict
            self.log.info("pod %s changed while its nodes were moved (%s); looking again", pod.name, exc)
            self.wake.set()
            return
        for event in news:
            self.log.info(event.message)

    @staticmethod
    def _news(pod: Pod, m: Move) -> Event:
        subject = f"{pod.name}/{m.node}"
        if m.kind == "move" and not m.source:
            return Event.now("node.placed", subject, f"node {m.node} of pod {pod.name} placed on host {m.to} "
                                                     f"({m.reason})")
        if m.kind == "move":
            return Event.now("node.moved", subject, f"node {m.node} moved from {m.source} to {m.to}: {m.reason}")
        if m.kind == "pending":
            return Event.now("node.pending", subject, f"node {m.node} waits on host {m.source or '-'}: {m.reason}")
        return Event.now("node.placed", subject, f"node {m.node} no longer waits: host {m.source} takes it again")

    def _report_drained(self, nodes: list[Node]) -> None:
        """One event when a draining host that had nodes has none left."""
        left = Counter(n.host for n in nodes)
        for host, had in sorted(self._draining_seen.items()):
            if had and not left[host]:
                self._event("host.drained", f"host/{host}", f"host {host} is drained: its {had} node(s) "
                                                              f"run on other hosts now; take it out of its "
                                                              f"pod with: cloud host rm {host}")
                self._draining_seen[host] = 0

    def _event(self, kind: str, subject: str, message: str) -> None:
        self.log.info(message)
        try:
            self.store.record_event(kind, subject, message)
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot record event %s (%s): %s", kind, message, exc)
