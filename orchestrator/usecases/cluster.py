"""The cluster as a whole: create the built-in pods and jobs, the status summary, the events."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.core import views
from orchestrator.core.errors import Conflict
from orchestrator.core.model import (
    BUILTIN_PODS,
    DEFAULT_HOSTS,
    DEFAULT_JOB_IMAGE_PREFIX,
    Event,
    Pod,
    builtin_apps,
)
from orchestrator.edges.protocols import StoreProtocol
from orchestrator.usecases.records import joined

RECENT_EVENTS = 20    # events shown by status()


class Cluster:
    """``/api/init``, ``/api/status``, ``/api/events``."""

    def __init__(self, store: StoreProtocol, job_image_prefix: str = DEFAULT_JOB_IMAGE_PREFIX,
                 pods_hosts: Mapping[str, Sequence[str]] | None = None):
        """``job_image_prefix``: where the built-in jobs' images come from (e.g.
        "manager:5050/simplecloud/"); ``pods_hosts``: the hosts of each built-in
        pod as the inventory groups them (the setting; a pod it does not name
        stays on its default host)."""
        self.store = store
        self.job_image_prefix = job_image_prefix
        self.pods_hosts = dict(pods_hosts or {})

    def builtin_pods(self) -> list[Pod]:
        """The built-in pods over the hosts of ``pods_hosts`` (else their default host)."""
        return [dataclasses.replace(p, hosts=tuple(self.pods_hosts.get(p.name) or p.hosts))
                for p in BUILTIN_PODS.values()]

    def init(self) -> dict[str, Any]:
        """Create the built-in pods and job apps that do not exist yet (idempotent).
        A default host a built-in pod needs is registered if the settings did not."""
        created: dict[str, list[str]] = {"pods": [], "apps": []}
        existing: dict[str, list[str]] = {"pods": [], "apps": []}
        pods = self.builtin_pods()
        known = {h.name for h in self.store.list_hosts()}
        needed = sorted({h for p in pods for h in p.hosts} - known)
        unknown = [h for h in needed if h not in DEFAULT_HOSTS]
        if unknown:
            raise Conflict(f"the setting pods_hosts names host(s) {', '.join(unknown)} that no setting "
                           f"pod_hosts describes (known: {', '.join(sorted(known)) or 'none'}); "
                           f"add them to pod_hosts")
        self.store.register_hosts([DEFAULT_HOSTS[h] for h in needed])
        for pod in pods:
            try:
                self.store.put_pod(pod, create=True)
                created["pods"].append(pod.name)
            except Conflict:
                existing["pods"].append(pod.name)
        for app in builtin_apps(self.job_image_prefix).values():
            try:
                self.store.put_app(dataclasses.replace(app, created=time.time()), create=True)
                created["apps"].append(app.name)
            except Conflict:
                existing["apps"].append(app.name)
        if created["pods"] or created["apps"]:
            self.store.record_event("cluster.init", "cluster",
                                    f"created pods {joined(created['pods'])}; apps {joined(created['apps'])}")
        return {"pods": list(BUILTIN_PODS), "apps": list(builtin_apps()),
                "created": created, "existing": existing}

    def status(self) -> dict[str, Any]:
        """Pods with usage and reachability, apps with replicas, node counts by
        status and by phase, etcd's size and alarms, what is wrong (etcd
        nearly full, hosts unreachable) in words, recent events."""
        nodes, observed = self.store.list_nodes(), self.store.list_observed()
        hosts, pods = self.store.list_link_states(), self.store.list_pods()
        records = {h.name: h for h in self.store.list_hosts()}
        etcd = self.store.health()
        return {
            "leader": self.store.get_leader(),
            "pods": views.pod_views(pods, nodes, hosts, observed, records, self.store.host_loads()),
            "apps": [views.app_view(a, nodes, observed, pods) for a in self.store.list_apps()],
            "nodes": views.by_status(nodes),
            "phases": views.by_phase(nodes, observed),
            "hosts": hosts,
            "warnings": views.etcd_warnings(etcd) + views.host_warnings(pods, nodes, hosts),
            "etcd": etcd,
            "events": self.store.events(RECENT_EVENTS),
        }

    def events(self, limit: int) -> list[Event]:
        """The newest ``limit`` events, newest first."""
        return self.store.events(limit)
