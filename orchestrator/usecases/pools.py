"""Hosts and pods as pools of them: list the hosts, put one into a pod, drain it, return it.

The hosts come from the settings (``pod_hosts``: the inventory), registered
at start (``register``); which pods have which hosts is the cluster's own
state (``Pod.hosts``), changed here (``cloud host add|rm``) and by the
autoscaler (spares). Moving nodes is the placer's job (control/placer.py):
a drain only marks the host, and the placer moves its nodes away, each new
one serving before its old one is drained.
"""
from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.core import views
from orchestrator.core.errors import Conflict, ValidationError
from orchestrator.core.model import Host, Pod
from orchestrator.core.pools import node_size
from orchestrator.edges.protocols import StoreProtocol
from orchestrator.usecases.records import host_or_404, pod_or_404, pool_for

HOST_FIELDS = ("address", "subnet", "nodes", "cpus", "memory_mb")


def hosts_of(pod_hosts: Mapping[str, Mapping[str, Any]]) -> builtins.list[Host]:
    """The setting ``pod_hosts`` ({host: {address, subnet, nodes, cpus, memory_mb}})
    as Host records; ValidationError naming the host and field that is wrong."""
    out = []
    for name, spec in sorted(pod_hosts.items()):
        if not isinstance(spec, Mapping):
            raise ValidationError("pod_hosts", f"pod_hosts: host {name} must be a mapping of "
                                               f"{', '.join(HOST_FIELDS)}")
        unknown = sorted(set(spec) - set(HOST_FIELDS))
        if unknown:
            raise ValidationError("pod_hosts", f"pod_hosts: host {name} has unknown field(s) "
                                               f"{', '.join(unknown)}; known: {', '.join(HOST_FIELDS)}")
        try:
            host = Host(name, int(spec["nodes"]), float(spec["cpus"]), int(spec["memory_mb"]),
                        str(spec.get("address", "")), str(spec.get("subnet", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError("pod_hosts", f"pod_hosts: host {name} needs whole numbers nodes and "
                                               f"memory_mb and a number cpus ({exc})") from None
        if host.nodes < 1 or host.cpus <= 0 or host.memory_mb < 1:
            raise ValidationError("pod_hosts", f"pod_hosts: host {name} needs a capacity above 0")
        out.append(host)
    return out


class Pools:
    """``/api/hosts``: the hosts, and the pods' pools of them."""

    def __init__(self, store: StoreProtocol):
        self.store = store

    def register(self, hosts: Iterable[Host]) -> builtins.list[str]:
        """Write the hosts of the settings that are missing or changed (at start)."""
        written = self.store.register_hosts(hosts)
        if written:
            self.store.record_event("host.registered", "cluster", f"host(s) {', '.join(written)} registered "
                                    "from the settings")
        return written

    def list(self, cpu_used: Mapping[str, float] | None = None) -> builtins.list[dict[str, Any]]:
        """Every host with its pods, capacity, load, nodes, link and CPU use
        (``cpu_used``: CPUs used by its serving workers, from the sampler)."""
        pods, nodes, links = self.store.list_pods(), self.store.list_nodes(), self.store.list_link_states()
        loads = self.store.host_loads()
        return [views.host_view(h, pods, nodes, links, loads, cpu_used) for h in self.store.list_hosts()]

    def add(self, name: str, pod_name: str) -> dict[str, Any]:
        """Put a host into a pod (a spare, or a host of other pods: its capacity
        is shared); a host of the pod that is draining takes nodes again."""
        host = host_or_404(self.store, name)
        pod = pod_or_404(self.store, pod_name)
        if host.name in pod.hosts:
            if not host.draining:
                raise Conflict(f"host {host.name} is already one of the hosts of pod {pod.name} "
                               f"({', '.join(pod.hosts)})", "pod")
            self.store.set_draining(host.name, False)
            self._event("host.undrained", host, f"host {host.name} takes nodes of pod {pod.name} again "
                                                 "(no longer draining)")
            return self._view(host.name)
        new = self.store.set_pod_hosts(pod.name, [*pod.hosts, host.name], pod.lent, undrain=host.name)
        self._event("host.added", host, f"host {host.name} joined pod {pod.name}: {len(new.hosts)} host(s) "
                                        f"({', '.join(new.hosts)}), room for {self._free(new)} more node(s) of "
                                        f"{new.cpus:g} CPU / {new.memory_mb} MiB")
        return self._view(host.name)

    def drain(self, name: str) -> dict[str, Any]:
        """Mark a host draining: the placer moves its nodes to the other hosts of
        their pods (each new node serving before the old one is drained), and
        nothing new is placed on it."""
        host = host_or_404(self.store, name)
        on = [n for n in self.store.list_nodes() if n.host == host.name]
        if not host.draining:
            self.store.set_draining(host.name, True)
            pods = sorted({n.pod for n in on})
            self._event("host.draining", host, f"host {host.name} is being drained: its {len(on)} node(s)"
                        + (f" of pod(s) {', '.join(pods)} move to the pods' other hosts" if on else ""))
        return self._view(host.name)

    def remove(self, name: str, pod_name: str | None = None) -> dict[str, Any]:
        """Take a host out of its pod (``pod_name`` if it has several): back to the
        spares. Conflict while nodes of the pod remain on it (drain it first)."""
        host = host_or_404(self.store, name)
        pods = [p for p in self.store.list_pods() if host.name in p.hosts]
        pod = self._pod_of(host, pods, pod_name)
        if pod.hosts == (host.name,):
            raise Conflict(f"host {host.name} is the only host of pod {pod.name}; a pod needs one "
                           f"(add another first: cloud host add HOST {pod.name})")
        self.store.set_pod_hosts(pod.name, [h for h in pod.hosts if h != host.name],
                                 [h for h in pod.lent if h != host.name], undrain=host.name)
        others = [p.name for p in pods if p != pod]
        self._event("host.removed", host, f"host {host.name} left pod {pod.name}"
                    + (f"; still in {', '.join(others)}" if others else "; it is a spare again"))
        return self._view(host.name)

    # ------------------------------------------------------------------ helpers
    def _pod_of(self, host: Host, pods: builtins.list[Pod], pod_name: str | None) -> Pod:
        if pod_name is not None:
            pod = pod_or_404(self.store, pod_name)
            if host.name not in pod.hosts:
                raise Conflict(f"host {host.name} is not one of the hosts of pod {pod.name} "
                               f"({', '.join(pod.hosts)})", "pod")
            return pod
        if not pods:
            raise Conflict(f"host {host.name} is in no pod: it is a spare already")
        if len(pods) > 1:
            raise Conflict(f"host {host.name} is in pods {', '.join(p.name for p in pods)}; "
                           f"name the pod it leaves (cloud host rm {host.name} --pod POD)", "pod")
        return pods[0]

    def _free(self, pod: Pod) -> int:
        nodes = self.store.list_nodes(pod.name)
        return pool_for(self.store, pod, nodes).free_nodes(node_size(pod))

    def _view(self, name: str) -> dict[str, Any]:
        return next(h for h in self.list() if h["name"] == name)

    def _event(self, kind: str, host: Host, message: str) -> None:
        self.store.record_event(kind, f"host/{host.name}", message)
