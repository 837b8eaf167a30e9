"""Use cases: what the API (and so the `cloud` CLI) can ask the cluster to do,
one module per blueprint of the API (cluster, pods, nodes, apps, autoscaling,
managers, pools: the hosts).

Each one takes input already checked at the edge (the API parsed the body
against core/schema.py and the names in the path), reads what it needs once,
asks the pure core what to do (``core.validate`` checks, ``core.scaling``
plans, ``core.views`` answers), writes the result in one store transaction
(again, after a fresh read, if another request changed the pod meanwhile:
``StaleCount``), then records an event. Desired state only: the controller
notices it and makes the hosts and HAProxy match. On the pod hosts the use
cases only look (an image before a deploy, a node's logs) and, on request,
kill a container (``cloud node crash``): usecases/hosts.py.

The use cases import the edges' Protocols, never the drivers: server.py
hands them the Store and the HostPool (tests: the fakes).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.core.model import DEFAULT_JOB_IMAGE_PREFIX
from orchestrator.edges.protocols import HostsProtocol, StoreProtocol
from orchestrator.usecases.apps import Apps
from orchestrator.usecases.autoscaling import Autoscaling
from orchestrator.usecases.cluster import Cluster
from orchestrator.usecases.managers import Managers
from orchestrator.usecases.nodes import Nodes
from orchestrator.usecases.pods import Pods
from orchestrator.usecases.pools import Pools


@dataclass(frozen=True)
class UseCases:
    """Every use case, over one store and one pool of hosts."""

    cluster: Cluster
    pods: Pods
    nodes: Nodes
    apps: Apps
    autoscaling: Autoscaling
    managers: Managers
    pools: Pools

    @classmethod
    def over(cls, store: StoreProtocol, hosts: HostsProtocol | None = None,
             job_image_prefix: str = DEFAULT_JOB_IMAGE_PREFIX, managers: Managers | None = None,
             pods_hosts: Mapping[str, Sequence[str]] | None = None) -> UseCases:
        """The use cases over ``store`` and ``hosts`` (None: no host access: no
        image checks, and logs/crash answer 503); ``managers``: this manager
        among the others (default: alone, named "manager"); ``pods_hosts``: the
        built-in pods' hosts (the setting; ``cloud init``)."""
        return cls(cluster=Cluster(store, job_image_prefix, pods_hosts), pods=Pods(store),
                   nodes=Nodes(store, hosts), apps=Apps(store, hosts), autoscaling=Autoscaling(store),
                   managers=managers or Managers(store, "manager"), pools=Pools(store))
