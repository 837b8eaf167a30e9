"""Nodes: list, register and remove them; a node's logs; crash one on purpose.

``logs`` and ``crash`` go to the node's host (usecases/hosts.py); the rest is
desired state in the store. A registered node is placed on one of its pod's
hosts (core/placement.py). Inputs were checked at the edge (api/nodes.py).
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any

from orchestrator.core import views
from orchestrator.core.errors import Conflict, NotFound
from orchestrator.core.model import Event, Node, NodeStatus, Pod
from orchestrator.core.placement import place
from orchestrator.core.pools import node_size
from orchestrator.core.schema import NodeSpec
from orchestrator.edges.protocols import HostsProtocol, StoreProtocol
from orchestrator.usecases.hosts import container_of, on_host
from orchestrator.usecases.records import app_or_404, pod_or_404, pool_for


class Nodes:
    """The nodes of the cluster (``/api/nodes``, ``/api/pods/<pod>/nodes/<node>``)."""

    def __init__(self, store: StoreProtocol, hosts: HostsProtocol | None = None):
        """``hosts``: the pod hosts, for logs and crash (None: this manager reaches none)."""
        self.store = store
        self.hosts = hosts

    def list(self, pod: str | None = None) -> list[dict[str, Any]]:
        """Nodes (of one pod or all), each with its desired ``status`` and what
        the controller last saw (``observed``: phase, container, health, host,
        IP, restarts, since when, last error; None before its first look)."""
        if pod is not None:
            pod_or_404(self.store, pod)
        observed = self.store.list_observed()
        return [views.node_view(n, observed) for n in self.store.list_nodes(pod)]

    def register(self, spec: NodeSpec) -> Node:
        """Add one NEW node (container created, not started) running the app named or the pod's app."""
        pod = pod_or_404(self.store, spec.pod)
        app_name = spec.app or pod.app
        if not app_name:
            raise Conflict(f"pod {pod.name!r} has no default app; name one: "
                           f"cloud register {spec.name} {pod.name} --app APP", "app")
        app = app_or_404(self.store, app_name)
        if app.pod != pod.name:
            raise Conflict(f"app {app.name!r} runs in pod {app.pod!r}, not "
                           f"{pod.name!r}; register the node in pod {app.pod!r} "
                           f"or choose an app of pod {pod.name!r}", "app")
        pod_nodes = self.store.list_nodes(pod.name)
        spread = Counter(n.host for n in pod_nodes if n.app == app.name and n.host)
        (host,) = place(1, node_size(pod), pool_for(self.store, pod, pod_nodes), spread)
        event = Event.now("node.registered", f"{pod.name}/{spec.name}",
                          f"node {spec.name} registered in pod {pod.name} (app {app.name}) on host "
                          f"{host}, status NEW")
        (node,) = self.store.add_nodes(pod.name, [Node(spec.name, pod.name, app.name, NodeStatus.NEW,
                                                       created=time.time(), host=host)], event=event)
        return node

    def remove(self, pod: str, name: str) -> Node:
        the_pod = pod_or_404(self.store, pod)
        (node,) = self.store.remove_nodes(the_pod.name, [name], event=Event.now(
            "node.removed", f"{the_pod.name}/{name}", f"node {name} removed from pod {the_pod.name}"))
        return node

    def logs(self, pod: str, name: str, tail: int = 100) -> dict[str, Any]:
        """The last ``tail`` lines of a node's container log."""
        the_pod, node = self._pod_with_node(pod, name)
        container = container_of(self.hosts, node.host, the_pod, name)
        text = on_host(self.hosts, node.host, the_pod, lambda host: host.logs(container, tail=tail))
        return {"pod": the_pod.name, "node": name, "container": container, "logs": text}

    def crash(self, pod: str, name: str) -> dict[str, Any]:
        """Kill a node's worker container (SIGKILL), for demos and fault tests.

        Desired state is not touched: the controller sees the container die and
        replaces it, exactly as after a real crash."""
        the_pod, node = self._pod_with_node(pod, name)
        container = container_of(self.hosts, node.host, the_pod, name, running=True)
        on_host(self.hosts, node.host, the_pod, lambda host: host.kill(container))
        self.store.record_event("node.crashed", f"{the_pod.name}/{name}",
                                f"node {name}: container {container} killed on request (cloud node crash)")
        return {"pod": the_pod.name, "node": name, "container": container, "killed": True}

    def _pod_with_node(self, pod: str, name: str) -> tuple[Pod, Node]:
        the_pod = pod_or_404(self.store, pod)
        node = self.store.get_node(the_pod.name, name)
        if node is None:
            raise NotFound(f"node {name!r} does not exist in pod {the_pod.name!r}; "
                           f"see: cloud node ls {the_pod.name}")
        return the_pod, node
