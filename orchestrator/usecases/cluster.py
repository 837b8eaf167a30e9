"""The cluster as a whole: create the built-in pods and jobs, the status summary, the events."""
from __future__ import annotations

import dataclasses
import time
from typing import Any

from orchestrator.core import views
from orchestrator.core.errors import Conflict
from orchestrator.core.model import (
    BUILTIN_PODS,
    DEFAULT_JOB_IMAGE_PREFIX,
    Event,
    builtin_apps,
)
from orchestrator.edges.protocols import StoreProtocol
from orchestrator.usecases.records import joined

RECENT_EVENTS = 20    # events shown by status()


class Cluster:
    """``/api/init``, ``/api/status``, ``/api/events``."""

    def __init__(self, store: StoreProtocol, job_image_prefix: str = DEFAULT_JOB_IMAGE_PREFIX):
        """``job_image_prefix``: where the built-in jobs' images come from (e.g. "manager:5050/simplecloud/")."""
        self.store = store
        self.job_image_prefix = job_image_prefix

    def init(self) -> dict[str, Any]:
        """Create the built-in pods and job apps that do not exist yet (idempotent)."""
        created: dict[str, list[str]] = {"pods": [], "apps": []}
        existing: dict[str, list[str]] = {"pods": [], "apps": []}
        for pod in BUILTIN_PODS.values():
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
        hosts, pods = self.store.list_host_states(), self.store.list_pods()
        etcd = self.store.health()
        return {
            "leader": self.store.get_leader(),
            "pods": [views.pod_view(p, nodes, hosts, observed) for p in pods],
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
