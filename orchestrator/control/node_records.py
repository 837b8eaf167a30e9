"""What a reconciler knows and writes of the nodes placed on its host.

Each node's healing record (``core.healing.NodeHealth``: restarts, back-off)
is read from etcd on the reconciler's first pass and kept across passes, so a
restarted manager goes on where the last one stopped; a node that moved here
from another host brings its record along (``adopt``). The observed record
(``observed/<pod>/<node>``: phase, container, health, host...) is written
only by the reconciler of the node's host and only when it says something
new, and deleted with its node by the host that wrote it last. A node removed
and added again under the same name (another ``created``) starts afresh.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.core import errors, observed
from orchestrator.core.healing import HealingPolicy, NodeHealth
from orchestrator.core.model import App, Container, Node, Pod, Server
from orchestrator.edges.protocols import StoreProtocol


class NodeRecords:
    """The healing and observed records of one host's nodes (see the module docstring)."""

    def __init__(self, store: StoreProtocol, host: str, policy: HealingPolicy, log: logging.Logger):
        self.store = store
        self.host = host
        self.policy = policy
        self.log = log
        self.loaded = False
        self.health: dict[tuple[str, str], NodeHealth] = {}
        self.views: dict[tuple[str, str], dict[str, Any]] = {}
        self.born: dict[tuple[str, str], float | None] = {}   # node.created each record is about
        self.mine: set[tuple[str, str]] = set()                # the nodes placed here at the last pass

    def load(self) -> None:
        """The healing records of the nodes, read from etcd once (the first pass)."""
        if self.loaded:
            return
        records = self.store.list_observed()
        self.views = dict(records)
        self.health = {k: NodeHealth.from_dict(v.get("health")) for k, v in records.items()}
        self.born = {k: v.get("node_created") for k, v in records.items()}
        self.loaded = True

    def forget_old_incarnations(self, nodes: Iterable[Node]) -> None:
        """A node removed and added again under the same name starts afresh."""
        for node in nodes:
            key = (node.pod, node.name)
            if self.born.get(key) != node.created:
                self.born[key] = node.created
                self.health[key] = NodeHealth()
                self.views.pop(key, None)

    def adopt(self, nodes: Iterable[Node]) -> None:
        """Nodes newly placed here (moved from another host) take over their
        healing record as that host last wrote it."""
        here = {(n.pod, n.name) for n in nodes if n.host == self.host}
        for key in sorted(here - self.mine):
            if self.loaded and key in self.born:
                try:
                    record = self.store.get_observed(*key)
                except errors.SimpleCloudError as exc:
                    self.log.warning("cannot read the record of %s/%s: %s", *key, exc)
                    continue
                if record is not None and record.get("node_created") == self.born.get(key):
                    self.views[key] = record
                    self.health[key] = NodeHealth.from_dict(record.get("health"))
        self.mine = here

    def write_views(self, pods: Iterable[Pod], apps: Iterable[App], nodes: Iterable[Node],
                    containers: Iterable[Container], server_of: Mapping[tuple[str, str], Server], now: float) -> None:
        """What was seen of every node placed here, written when it says something
        new; the records this host wrote of nodes that are gone, or of pods that
        no longer exist, are deleted."""
        pods_by, apps_by = {p.name: p for p in pods}, {a.name: a for a in apps}
        by_node: dict[tuple[str, str], list[Container]] = {}
        for c in containers:
            if c.host in ("", self.host):
                by_node.setdefault((c.pod, c.node), []).append(c)
        live, existing = set(), set()
        for node in nodes:
            key = (node.pod, node.name)
            existing.add(key)
            app = apps_by.get(node.app)
            if node.host != self.host or app is None or node.pod not in pods_by:
                continue
            live.add(key)
            health = self.health.get(key, NodeHealth())
            view = observed.node_view(node, app, pods_by[node.pod], by_node.get(key, []), dict(server_of),
                                      health, now, self.policy)
            view["health"] = health.to_dict()
            self._put(key, view, now)
        for key in [k for k, v in self.views.items()
                    if (k not in existing or k[0] not in pods_by) and v.get("host") in (None, self.host)]:
            self._delete(key)               # a node gone, or a pod deleted (by an older version: now its txn)

    def write_unreachable(self, nodes: Iterable[Node], error: str) -> None:
        """Every node placed here marked unreachable, keeping the last thing seen."""
        if not self.loaded:
            return
        now = time.time()
        for node in nodes:
            key = (node.pod, node.name)
            if node.host == self.host:
                last = observed.current(self.views.get(key), node)
                view = {**observed.unreachable(last, self.host, error), "node_created": node.created}
                self._put(key, view, now)

    def _put(self, key: tuple[str, str], view: dict[str, Any], now: float) -> None:
        previous = self.views.get(key)
        if observed.same(previous, view):
            return
        since = previous.get("since", now) if previous is not None and previous.get("phase") == view.get("phase") \
            else now
        view = {**view, "since": since, "time": now}
        try:
            if self.store.put_observed(key[0], key[1], view):      # False: the node is gone meanwhile
                self.views[key] = view
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot write the observed state of %s/%s: %s", *key, exc)

    def _delete(self, key: tuple[str, str]) -> None:
        try:
            self.store.delete_observed(*key)
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot delete the observed state of %s/%s: %s", *key, exc)
            return
        self.views.pop(key, None)
        self.health.pop(key, None)
