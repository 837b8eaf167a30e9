"""Every manager's HAProxy serves every app: the leader publishes, the others mirror.

Only the leader's reconcilers change servers, on the leader's own HAProxy.
``PublishedHAProxy`` is that HAProxy as the reconcilers see it: after every
server change it writes the backend's server table to etcd (``lb/<backend>``,
fenced by the leader's epoch; core/lb_table.py). A server about to be
deleted is published in maintenance first, so the followers stop sending it
new requests while the leader waits for its last ones.

``LBMirror`` runs on every manager:

* on a follower, as soon as a table changes (an etcd watch on ``lb/``,
  ``Store.wait_for_lb_change``) and at least every ``interval`` seconds, it
  reads the tables and makes its own HAProxy match them
  (``lb_table.mirror_steps``, the reconcilers' own step executor); each
  HAProxy checks the servers' health itself (a warm node the leader
  promotes takes a follower's requests a watch event later, not up to an
  ``interval``: the first request to an app at zero often comes in through
  a follower, which holds the virtual IP);
* on the leader, every ``interval`` seconds, it publishes the whole table now
  and then (a missed publish, a backend gone with its app), so etcd never
  stays behind for long.

A new leader's HAProxy has mirrored the old leader's table, so it starts from
what the old leader left.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orchestrator.control.haproxy_steps import run_haproxy_step
from orchestrator.core import errors, lb_table
from orchestrator.core.steps import Action, describe
from orchestrator.edges.protocols import HAProxyProtocol, StoreProtocol

PUBLISH_ALL_EVERY = 5.0    # seconds between the leader's full publishes
PARALLEL = 10              # mirror chains run side by side (a delete waits for a drain)


class PublishedHAProxy:
    """The leader's HAProxy: each server change is published to ``lb/<backend>``."""

    def __init__(self, haproxy: HAProxyProtocol, store: StoreProtocol, log: logging.Logger | None = None):
        """``store``: the fenced store of the acting loops (a deposed leader publishes nothing)."""
        self.haproxy = haproxy
        self.store = store
        self.log = log or logging.getLogger("orchestrator.lb")
        self._lock = threading.Lock()          # one publish at a time: the last one read last

    def __getattr__(self, name: str) -> Any:   # everything else is the HAProxy's own
        return getattr(self.haproxy, name)

    def add_server(self, backend: str, name: str, addr: str, port: int, admin: str = "ready") -> None:
        self.haproxy.add_server(backend, name, addr, port, admin=admin)
        self.publish(backend)

    def set_state(self, backend: str, name: str, admin: str) -> None:
        self.haproxy.set_state(backend, name, admin)
        self.publish(backend)

    def del_server(self, backend: str, name: str, wait: float = 3.0) -> None:
        try:
            self.haproxy.set_state(backend, name, "drain")     # the followers stop sending it requests
            self.publish(backend)
        except errors.NotFound:
            pass
        self.haproxy.del_server(backend, name, wait=wait)
        self.publish(backend)

    def publish(self, backend: str) -> None:
        """Write one backend's table as this HAProxy has it now."""
        with self._lock:
            servers = [s for s in self.haproxy.show_servers() if s.backend == backend]
            entries = lb_table.table(servers, {backend}).get(backend, [])
            self.store.put_lb_table(backend, lb_table.encode(entries))

    def publish_all(self) -> int:
        """Write every backend's table, delete those of backends that are gone;
        returns how many tables were written or deleted because they differed."""
        with self._lock:
            mine = lb_table.table(self.haproxy.show_servers(), self.haproxy.backends())
            published = self.store.list_lb_tables()
            changed = 0
            for backend, entries in mine.items():
                encoded = lb_table.encode(entries)
                if published.get(backend) != encoded:
                    self.store.put_lb_table(backend, encoded)
                    changed += 1
            for backend in sorted(set(published) - set(mine)):
                self.store.delete_lb_table(backend)
                changed += 1
            return changed


class LBMirror:
    """Keeps this manager's HAProxy in line with the leader's (see the module docstring)."""

    def __init__(self, store: StoreProtocol, haproxy: HAProxyProtocol, interval: float,
                 leading: Callable[[], PublishedHAProxy | None], log: logging.Logger | None = None):
        """``store``: the plain store (reads); ``leading()``: the leader's
        PublishedHAProxy while this manager leads and may act, else None."""
        self.store = store
        self.haproxy = haproxy
        self.interval = interval
        self.leading = leading
        self.log = log or logging.getLogger("orchestrator.lb")
        self.last_failures: list[tuple[Action, str]] = []
        self._damaged: set[str] = set()
        self._published_at = 0.0
        self._problem = ""

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self.leading() is None:
                    self.store.wait_for_lb_change(self.interval)    # a table changed, or the interval
                elif stop.wait(self.interval):
                    return
                self.once()
                self._problem = ""
            except errors.NotLeader:
                pass                                # lost it meanwhile: mirror next time
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                message = f"load balancer mirror pass failed: {exc}"
                if message != self._problem:
                    self._problem = message
                    self.log.warning(message)
                stop.wait(self.interval)            # etcd down: not a busy loop

    def once(self) -> int:
        """One pass; returns how many steps (mirror) or tables (leader) it changed."""
        leader = self.leading()
        if leader is not None:
            if time.monotonic() - self._published_at < PUBLISH_ALL_EVERY:
                return 0
            self._published_at = time.monotonic()
            return leader.publish_all()
        self._published_at = 0.0
        return self.mirror_once()

    def mirror_once(self) -> int:
        published = {}
        for backend, data in self.store.list_lb_tables().items():
            try:
                published[backend] = lb_table.decode(data)
                self._damaged.discard(backend)
            except ValueError as exc:
                if backend not in self._damaged:
                    self._damaged.add(backend)
                    self.log.warning("the published table of %s is damaged (%s); left as it is", backend, exc)
        chains = lb_table.mirror_steps(published, self.haproxy.show_servers(), self.haproxy.backends())
        self.last_failures = []
        if not chains:
            return 0
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(chains)), thread_name_prefix="lb-mirror") as pool:
            list(pool.map(self._run_chain, chains.values()))
        return sum(len(steps) for steps in chains.values())

    def _run_chain(self, steps: list[Action]) -> None:
        for action in steps:
            try:
                run_haproxy_step(self.haproxy, action)
            except Exception as exc:  # noqa: BLE001 - the next pass tries again
                self.last_failures.append((action, str(exc)))
                self.log.warning("mirror: %s failed: %s", describe(action), exc)
                return
            self.log.info("mirror: %s", describe(action))
