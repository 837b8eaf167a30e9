"""Pods: register and remove them, and the seed verbs on their nodes (launch, pause, resume).

Every input was checked at the edge (api/pods.py: the body against
``schema.PodSpec``, the pod's name in the path); a refusal here is about
the state (409) or a missing record (404).
"""
from __future__ import annotations

import builtins
import dataclasses
from typing import Any

from orchestrator.core import views
from orchestrator.core.errors import Conflict, NotFound, ValidationError
from orchestrator.core.model import Event, Node, NodeStatus, Pod
from orchestrator.core.schema import PodSpec
from orchestrator.edges.protocols import StoreProtocol
from orchestrator.usecases.records import RETRIES, joined, pod_or_404


class Pods:
    """The pods of the cluster (``/api/pods``)."""

    def __init__(self, store: StoreProtocol):
        self.store = store

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every pod with ``used``, ``free``, ``capacity``, node counts by status
        and phase, its hosts and their links' state."""
        return views.pod_views(self.store.list_pods(), self.store.list_nodes(), self.store.list_link_states(),
                               self.store.list_observed(), {h.name: h for h in self.store.list_hosts()},
                               self.store.host_loads())

    def register(self, spec: PodSpec) -> Pod:
        """Register a pod of capacity over known hosts (missing sizes: the schema's
        defaults). An unknown host is a ValidationError (400) naming the known ones."""
        pod = Pod(name=spec.name, hosts=spec.host_names(), max_nodes=spec.max_nodes, cpus=spec.cpus,
                  memory_mb=spec.memory_mb, app=spec.app)
        known = sorted(h.name for h in self.store.list_hosts())
        unknown = [h for h in pod.hosts if h not in known]
        if unknown:
            raise ValidationError("hosts" if spec.hosts is not None else "host",
                                  f"host {unknown[0]!r} is not known; the known hosts are "
                                  f"{', '.join(known) or 'none'} (see: cloud host ls)")
        if pod.app:
            default = self.store.get_app(pod.app)
            if default is not None and default.pod != pod.name:
                raise Conflict(f"app {pod.app!r} runs in pod {default.pod!r}, so it cannot "
                               f"be the default app of pod {pod.name!r}; name an app of "
                               f"this pod or leave app out", "app")
        self.store.put_pod(pod, create=True, event=Event.now(
            "pod.registered", f"pod/{pod.name}",
            f"pod {pod.name} on {joined(pod.hosts)}: {pod.max_nodes} × {pod.cpus:g} CPU / "
            f"{pod.memory_mb} MiB on each"))
        return pod

    def remove(self, name: str) -> Pod:
        """Remove an empty pod that no app runs in (the store refuses it otherwise, atomically)."""
        pod_or_404(self.store, name)
        return self.store.delete_pod(name, event=Event.now("pod.removed", f"pod/{name}", f"pod {name} removed"))

    def launch(self, name: str) -> Node:
        """Move the oldest NEW node of the pod to ONLINE."""
        pod = pod_or_404(self.store, name)
        for _ in range(RETRIES):
            new = [n for n in self.store.list_nodes(pod.name) if n.status == NodeStatus.NEW]
            if not new:
                raise Conflict(f"pod {pod.name} has no NEW node; register one with: "
                               f"cloud register NODE {pod.name}")
            event = Event.now("node.launched", f"{pod.name}/{new[0].name}", f"node {new[0].name} is ONLINE")
            try:
                return self.store.update_node(dataclasses.replace(new[0], status=NodeStatus.ONLINE), event=event)
            except (Conflict, NotFound):
                continue            # another request launched or removed it: take the next one
        raise Conflict(f"pod {pod.name!r} kept changing during launch; try again")

    def pause(self, name: str) -> builtins.list[Node]:
        """Every ONLINE node of the pod becomes PAUSED (drained from HAProxy)."""
        return self._move_all(name, NodeStatus.ONLINE, NodeStatus.PAUSED, "paused")

    def resume(self, name: str) -> builtins.list[Node]:
        """Every PAUSED node of the pod becomes ONLINE again."""
        return self._move_all(name, NodeStatus.PAUSED, NodeStatus.ONLINE, "resumed")

    def _move_all(self, name: str, source: NodeStatus, target: NodeStatus, verb: str) -> builtins.list[Node]:
        pod = pod_or_404(self.store, name)
        moved: builtins.list[Node] = []
        for _ in range(RETRIES):
            chosen = [dataclasses.replace(n, status=target)
                      for n in self.store.list_nodes(pod.name) if n.status == source]
            names = [n.name for n in moved + chosen]
            event = Event.now(f"pod.{verb}", f"pod/{pod.name}", f"{len(names)} node(s) {verb}: {joined(names)}")
            try:
                moved += self.store.update_nodes(chosen, event=event if chosen else None)
            except (Conflict, NotFound) as exc:
                moved += exc.done   # batches before the change stay done
                continue            # someone changed one of them: re-read and redo the rest
            return moved
        raise Conflict(f"pod {pod.name!r} kept changing; try again")
