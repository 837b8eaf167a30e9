"""Store: the cluster's desired state, observed state and events in etcd.

One ``Store`` is the whole interface (``edges.protocols.StoreProtocol``); its
methods are one line each, over the modules that hold the records:

=============  =======================================================
keys.py        the key layout (``KEYS``) and how each record decodes
etcd.py        the low-level tier: the connection, reads that skip damaged
               records, writes (``txn``/``put_json``/``delete``), the pod guard
desired.py     pods and apps (create/update/delete under the guard)
nodes.py       nodes: add, update (compare-and-swap), remove, in batches
hosts.py       hosts, their loads (the host guard) and their links' state
pools.py       nodes moved between hosts, hosts joining and leaving pods
events.py      the event log, trimmed to ``max_events``
observed.py    the controller's observed records
autoscale.py   autoscale policies and the autoscaler's memory (of apps and spares)
watch.py       ``wait_for_change``: the controller's wake-up; ``wait_for_lb_change``: the mirror's
routes.py      route reservations (one key per route)
ranges.py      lists read in pages at one revision
health.py      etcd's database size, quota and alarms
=============  =======================================================

Damaged records
---------------
A record that is not JSON or does not fit the model (a missing field, a wrong
type; see ``model.RecordError``) is skipped by every list call, logged and
reported once as an event (``store.corrupt``, naming the key and why); a read
of that one record (``get_pod``, ...) raises ``CorruptRecord`` (409). One bad
record therefore never fails a list, the API or a reconcile pass.

Reads return model objects or None (absence is not an error here); the use
cases turn None into NotFound with a message for the user.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from orchestrator.core.errors import NotFound, StaleCount
from orchestrator.core.model import App, Event, Host, Node, Pod
from orchestrator.core.placement import Resources
from orchestrator.core.schema import Autoscale
from orchestrator.edges.etcd_client import parse_endpoints
from orchestrator.edges.store import autoscale as autoscale_records
from orchestrator.edges.store import desired, pools
from orchestrator.edges.store import events as event_log
from orchestrator.edges.store import hosts as host_records
from orchestrator.edges.store import lb as lb_records
from orchestrator.edges.store import members as etcd_members
from orchestrator.edges.store import nodes as node_records
from orchestrator.edges.store import observed as observed_records
from orchestrator.edges.store.etcd import MAX_TXN_OPS, CorruptRecord, Etcd, TooLarge
from orchestrator.edges.store.events import MAX_EVENTS
from orchestrator.edges.store.health import Health
from orchestrator.edges.store.keys import KEYS
from orchestrator.edges.store.watch import Watcher, lb_watcher
from orchestrator.settings import EtcdSettings

__all__ = ["KEYS", "MAX_EVENTS", "MAX_TXN_OPS", "CorruptRecord", "StaleCount", "Store", "TooLarge"]


class Store:
    """Desired state, observed state and events of one cluster, in etcd."""

    def __init__(self, host: str = "127.0.0.1", port: int = 2379, prefix: str = "/simplecloud/",
                 timeout: float = 10.0, max_events: int = MAX_EVENTS, tls: tuple[str, str, str] | None = None,
                 endpoints: Sequence[tuple[str, int]] | None = None, quota_bytes: int = 0):
        """``tls`` = (CA file, client certificate file, client key file), or None
        for plain HTTP; ``endpoints``: every etcd member, the nearest first
        (default: ``host``:``port``); ``quota_bytes``: etcd's
        --quota-backend-bytes (0: read it from etcd's own metrics, health.py)."""
        self.etcd = Etcd(host, port, prefix, timeout, tls, endpoints)
        self.etcd.max_events = max_events
        self._tls = tls
        self.max_events = max_events
        self._health = Health(self.etcd, quota_bytes)
        self.etcd.on_corrupt = self._report_corrupt
        self._watcher = Watcher(self.etcd)
        self._lb_watcher = lb_watcher(self.etcd)

    def _report_corrupt(self, key: str, message: str) -> None:
        self.record_event("store.corrupt", key, message)

    @classmethod
    def from_settings(cls, settings: EtcdSettings) -> Store:
        """A Store for the etcd group of the settings."""
        endpoints = parse_endpoints(settings.etcd_endpoints) if settings.etcd_endpoints else None
        return cls(settings.etcd_host, settings.etcd_port, settings.etcd_prefix, tls=settings.tls(),
                   endpoints=endpoints, quota_bytes=settings.etcd_quota_bytes)

    @property
    def prefix(self) -> str:
        return self.etcd.prefix

    @property
    def max_txn_ops(self) -> int:
        """Operations per transaction; set it to etcd's --max-txn-ops if that is lower."""
        return self.etcd.max_txn_ops

    @max_txn_ops.setter
    def max_txn_ops(self, value: int) -> None:
        self.etcd.max_txn_ops = value

    def close(self) -> None:
        """Close the gRPC channel. The Store must not be used afterwards."""
        self.etcd.close()

    def fenced(self, epoch_of: Callable[[], int]) -> Store:
        """This store over the same connection, with every write fenced by the
        leader's epoch (``Etcd.fenced``): what the acting loops of the leader
        write with. ``epoch_of()`` raises NotLeader when this manager may not act."""
        other = copy.copy(self)
        other.etcd = self.etcd.fenced(epoch_of)
        return other

    # ---------------------------------------------------------------- pods and apps (desired.py)
    def get_pod(self, name: str) -> Pod | None:
        return desired.get_pod(self.etcd, name)

    def list_pods(self) -> list[Pod]:
        return desired.list_pods(self.etcd)

    def put_pod(self, pod: Pod, create: bool, event: Event | None = None) -> Pod:
        return desired.put_pod(self.etcd, pod, create, event)

    def pod_node_count(self, name: str) -> int:
        return self.etcd.guard(name)[0]

    def delete_pod(self, name: str, event: Event | None = None) -> Pod:
        return desired.delete_pod(self.etcd, name, event)

    def get_app(self, name: str) -> App | None:
        return desired.get_app(self.etcd, name)

    def list_apps(self) -> list[App]:
        return desired.list_apps(self.etcd)

    def put_app(self, app: App, create: bool, event: Event | None = None) -> App:
        return desired.put_app(self.etcd, app, create, event)

    def delete_app(self, name: str, event: Event | None = None) -> App:
        """Delete an app that has no nodes (StaleCount if it has, NotFound if absent).
        To stop an app with its nodes, see remove_nodes(delete_app=...)."""
        app = self.get_app(name)
        if app is None:
            raise NotFound(f"app {name!r} does not exist; see the apps with: cloud app ls")
        node_records.remove_nodes(self.etcd, app.pod, [], delete_app=name, event=event)
        return app

    # ---------------------------------------------------------------- nodes (nodes.py)
    def get_node(self, pod: str, name: str) -> Node | None:
        return node_records.get_node(self.etcd, pod, name)

    def list_nodes(self, pod: str | None = None) -> list[Node]:
        return node_records.list_nodes(self.etcd, pod)

    def add_nodes(self, pod_name: str, nodes: Iterable[Node], create_app: App | None = None,
                  expect_count: int | None = None, event: Event | None = None,
                  update: Iterable[Node] = ()) -> list[Node]:
        return node_records.add_nodes(self.etcd, pod_name, nodes, create_app, expect_count, event, update)

    def update_node(self, node: Node, event: Event | None = None) -> Node:
        """Compare-and-swap one node record on ``node.revision`` (see update_nodes)."""
        return node_records.update_nodes(self.etcd, [node], event)[0]

    def update_nodes(self, nodes: Iterable[Node], event: Event | None = None) -> list[Node]:
        return node_records.update_nodes(self.etcd, nodes, event)

    def remove_nodes(self, pod_name: str, names: Iterable[str], delete_app: str | None = None,
                     expect_count: int | None = None, event: Event | None = None,
                     update: Iterable[Node] = ()) -> list[Node]:
        return node_records.remove_nodes(self.etcd, pod_name, names, delete_app, expect_count, event, update)

    # ---------------------------------------------------------------- hosts and pools (hosts.py, pools.py)
    def get_host(self, name: str) -> Host | None:
        return host_records.get_host(self.etcd, name)

    def list_hosts(self) -> list[Host]:
        return host_records.list_hosts(self.etcd)

    def register_hosts(self, hosts: Iterable[Host]) -> list[str]:
        return host_records.register_hosts(self.etcd, hosts)

    def set_draining(self, name: str, draining: bool) -> Host:
        return host_records.set_draining(self.etcd, name, draining)

    def host_loads(self) -> dict[str, Resources]:
        return host_records.host_loads(self.etcd)

    def move_nodes(self, pod_name: str, nodes: Iterable[Node], news: Sequence[Event] = ()) -> list[Node]:
        return pools.move_nodes(self.etcd, pod_name, nodes, news)

    def set_pod_hosts(self, name: str, hosts: Iterable[str], lent: Iterable[str],
                      undrain: str | None = None) -> Pod:
        return pools.set_pod_hosts(self.etcd, name, hosts, lent, undrain)

    def put_link_state(self, host: str, state: dict[str, Any]) -> None:
        host_records.put_link_state(self.etcd, host, state)

    def list_link_states(self) -> dict[str, dict[str, Any]]:
        return host_records.list_link_states(self.etcd)

    # ---------------------------------------------------------------- events (events.py)
    def record_event(self, kind: str, subject: str, message: str) -> Event:
        return event_log.record_event(self.etcd, self.max_events, kind, subject, message)

    def trim_events(self) -> int:
        return event_log.trim_events(self.etcd, self.max_events)

    def events(self, limit: int = 50) -> list[Event]:
        return event_log.events(self.etcd, limit)

    # ---------------------------------------------------------------- observed state (observed.py)
    def put_observed(self, pod: str, node: str, state: dict[str, Any]) -> bool:
        return observed_records.put_observed(self.etcd, pod, node, state)

    def get_observed(self, pod: str, node: str) -> dict[str, Any] | None:
        return observed_records.get_observed(self.etcd, pod, node)

    def list_observed(self) -> dict[tuple[str, str], dict[str, Any]]:
        return observed_records.list_observed(self.etcd)

    def delete_observed(self, pod: str, node: str) -> None:
        observed_records.delete_observed(self.etcd, pod, node)

    # ---------------------------------------------------------------- autoscaling (autoscale.py)
    def put_autoscale(self, app: str, policy: Autoscale | None, event: Event | None = None,
                      created_revision: int = 0) -> None:
        autoscale_records.put_autoscale(self.etcd, app, policy, event, created_revision)

    def list_autoscale(self) -> dict[str, Autoscale]:
        return autoscale_records.list_autoscale(self.etcd)

    def get_autoscale(self, app: str) -> Autoscale | None:
        return autoscale_records.get_autoscale(self.etcd, app)

    def put_autoscale_state(self, app: str, state: dict[str, Any], created_revision: int = 0) -> bool:
        return autoscale_records.put_autoscale_state(self.etcd, app, state, created_revision)

    def list_autoscale_states(self) -> dict[str, dict[str, Any]]:
        return autoscale_records.list_autoscale_states(self.etcd)

    def put_spare_state(self, pod: str, state: dict[str, Any]) -> None:
        autoscale_records.put_spare_state(self.etcd, pod, state)

    def list_spare_states(self) -> dict[str, dict[str, Any]]:
        return autoscale_records.list_spare_states(self.etcd)

    # ---------------------------------------------------------------- load balancer, leader (lb.py)
    def put_lb_table(self, backend: str, servers: list[dict[str, Any]]) -> None:
        lb_records.put_lb_table(self.etcd, backend, servers)

    def delete_lb_table(self, backend: str) -> None:
        lb_records.delete_lb_table(self.etcd, backend)

    def list_lb_tables(self) -> dict[str, Any]:
        return lb_records.list_lb_tables(self.etcd)

    def get_leader(self) -> dict[str, Any] | None:
        return lb_records.get_leader(self.etcd)

    # ---------------------------------------------------------------- etcd itself (health.py, members.py)
    def health(self) -> dict[str, Any]:
        return self._health.read()

    def etcd_members(self) -> list[dict[str, Any]]:
        return etcd_members.members(self.etcd, self._tls)

    def move_etcd_leader(self, away_from: str) -> str | None:
        return etcd_members.move_leader(self.etcd, self._tls, away_from)

    # ---------------------------------------------------------------- watch (watch.py)
    def wait_for_change(self, timeout: float) -> bool:
        return self._watcher.wait_for_change(timeout)

    def wait_for_lb_change(self, timeout: float) -> bool:
        return self._lb_watcher.wait_for_change(timeout)
