"""The spare hosts, as the autoscaler uses them (the decisions: core/spares.py).

``lend(pod, short)``: when an autoscaled app wants more than its pod holds,
a host lent to the pod that is draining takes nodes again, or a spare joins
the pod (``Pod.lent``); each with an event saying why, with its numbers.
``review(wanting)``: every autoscaler pass, a lent host the pod has not
needed for ``spare_return_window`` is drained, and one drained of the pod's
nodes is given back to the spares. What it remembers (since when each pod
has had room without each lent host) is kept in etcd (``spares/<pod>``), so
a new leader goes on where the last one stopped.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

from orchestrator.core import errors, spares
from orchestrator.core.model import Pod
from orchestrator.core.pools import unreachable_since
from orchestrator.edges.protocols import StoreProtocol


class SpareHosts:
    """Lends spare hosts to full pods and takes them back (module docstring)."""

    def __init__(self, store: StoreProtocol, window: float, log: logging.Logger | None = None,
                 clock: Callable[[], float] = time.time):
        """``store``: the leader's (fenced) store; ``window``: seconds a pod must
        have had room without a lent host before it is given back."""
        self.store = store
        self.window = window
        self.log = log or logging.getLogger("orchestrator.spares")
        self.clock = clock

    def lend(self, pod: Pod, short: int) -> str | None:
        """Add room to ``pod``, which lacks it for ``short`` more nodes; the host
        that now takes nodes, or None when there is no spare."""
        hosts = {h.name: h for h in self.store.list_hosts()}
        unusable = set(unreachable_since(self.store.list_link_states()))
        step = spares.lend(pod, short, hosts, self.store.list_pods(), self.store.host_loads(), unusable)
        if step is None:
            return None
        if step.kind == "undrain":
            self.store.set_draining(step.host, False)
        else:
            self.store.set_pod_hosts(pod.name, [*pod.hosts, step.host], [*pod.lent, step.host], undrain=step.host)
        self._event("host.lent", step.host, step.reason)
        return step.host

    def review(self, wanting: Collection[str] = ()) -> None:
        """Drain the lent hosts a pod has not needed for the window; return the drained ones."""
        pods = [p for p in self.store.list_pods() if p.lent]
        memory = self.store.list_spare_states()
        if not pods and not memory:
            return
        hosts = {h.name: h for h in self.store.list_hosts()}
        unusable = set(unreachable_since(self.store.list_link_states()))
        steps, new_memory = spares.review(pods, hosts, self.store.host_loads(), self.store.list_nodes(), unusable,
                                          memory, wanting, self.clock(), self.window)
        by_name = {p.name: p for p in pods}
        for step in steps:
            try:
                if step.kind == "drain":
                    self.store.set_draining(step.host, True)
                    new_memory.get(step.pod, {}).pop(step.host, None)
                    self._event("host.draining", step.host, step.reason)
                elif step.kind == "return":
                    pod = by_name[step.pod]
                    self.store.set_pod_hosts(pod.name, [h for h in pod.hosts if h != step.host],
                                             [h for h in pod.lent if h != step.host], undrain=step.host)
                    self._event("host.returned", step.host, step.reason)
            except errors.Conflict as exc:       # a node was placed there meanwhile: look again next pass
                self.log.info("%s of host %s not done: %s", step.kind, step.host, exc)
        for name in sorted(set(memory) | set(new_memory)):
            if memory.get(name) != new_memory.get(name):
                self.store.put_spare_state(name, new_memory.get(name, {}))

    def _event(self, kind: str, host: str, message: str) -> None:
        self.log.info(message)
        self.store.record_event(kind, f"host/{host}", message)
