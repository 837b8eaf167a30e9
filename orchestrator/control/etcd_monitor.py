"""Watching etcd itself: its database against its quota, and its alarms.

Every ``interval`` seconds the monitor reads ``Store.health()`` (database
size, revision, quota, alarms) and keeps it for ``/metrics``
(observe/collectors.py ``EtcdCollector``). It tells of what would otherwise
surprise an operator, once per occurrence:

* ``etcd.nospace``: etcd raised its NOSPACE alarm and refuses every write.
  That event cannot be written while the alarm holds (it is a write too):
  the monitor logs an error at once and writes the event, saying when the
  alarm was raised, as soon as etcd takes writes again;
* ``etcd.space``: the database passed ``views.ETCD_FULL_WARNING`` of the
  quota (told again only after it fell back below 70 %);
* ``etcd.alarm``: any other alarm (CORRUPT).

Under an election it also keeps etcd's leader off the machine of
simplecloud's leader (``leading()`` names this manager while it leads and
may act): if they coincide, it asks etcd to move its leadership to a healthy
other member (edges/store/members.py ``move_leader``) and tells
``etcd.leader_moved``. The leader's monitor is woken when its term starts,
so that a new term does not share a machine with etcd's leader for long.

``cloud status`` reads etcd's health itself (usecases/cluster.py) and shows
the same as warning lines. The monitor never compacts, defragments or
disarms: etcd compacts itself (roles/etcd: --auto-compaction-*), and the
rest is an operator's decision (docs/decisions.md, "Hardening").
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from orchestrator.control.reporting import Reporter
from orchestrator.core import errors, views
from orchestrator.edges.protocols import StoreProtocol

INTERVAL = 10.0
KEPT = 10              # events waiting to be written, at most
CLEAR = 0.7            # below this share of the quota a later "nearly full" is told again


class EtcdMonitor:
    """Reads etcd's health every ``interval``; events on NOSPACE, near-full, other alarms."""

    def __init__(self, store: StoreProtocol, interval: float = INTERVAL, log: logging.Logger | None = None,
                 events: StoreProtocol | None = None, leading: Callable[[], str | None] = lambda: None):
        """``events``: where its events are written (default ``store``; several
        managers: the leader's fenced store, so that one of them tells);
        ``leading()``: this manager's name (its etcd member's) while it leads
        simplecloud and may act, else None."""
        self.store = store
        self.leading = leading
        self.wake = threading.Event()
        self.events = events or store
        self.interval = interval
        self.log = log or logging.getLogger("orchestrator.etcd_monitor")
        self.reporter = Reporter(self.events, self.log)
        self.last: dict[str, Any] | None = None
        """The last reading (None before the first, or while etcd does not answer)."""
        self._pending: list[tuple[str, str]] = []        # (kind, message) not written yet
        self._nospace_since: float | None = None
        self._alarms: set[str] = set()
        self._warned_full = False

    def reading(self) -> dict[str, Any]:
        """The last reading, for /metrics (empty while unknown)."""
        return dict(self.last or {})

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                self.reporter.error("controller.error", "etcd", f"the etcd monitor failed: "
                                    f"{type(exc).__name__}: {exc}", key="pass", exc=exc)
            self.reporter.tick()
            self.wake.wait(self.interval)
            self.wake.clear()
            if stop.is_set():
                return

    def check(self) -> None:
        """One reading, and the events it calls for."""
        try:
            health = self.store.health()
        except errors.SimpleCloudError as exc:
            self.last = None
            self.log.debug("etcd's health cannot be read: %s", exc)
            return
        self.last = health
        alarms = set(health.get("alarms") or [])
        self._nospace(health, "NOSPACE" in alarms)
        self._nearly_full(health, "NOSPACE" in alarms)
        for name in sorted(alarms - self._alarms - {"NOSPACE"}):
            self._pending.append(("etcd.alarm", f"etcd raised its {name} alarm; see: etcdctl alarm list"))
        self._alarms = alarms
        self._keep_leader_away()
        self._flush()

    def _keep_leader_away(self) -> None:
        """Move etcd's leader off this machine while this manager leads simplecloud."""
        me = self.leading()
        if not me:
            return
        try:
            moved = self.store.move_etcd_leader(me)
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot move etcd's leader away from %s: %s", me, exc)
            return
        if moved:
            self.log.info("etcd's leader moved from %s to %s", me, moved)
            self._pending.append(("etcd.leader_moved", f"etcd's leader moved from {me} to {moved}: one "
                                  f"machine's loss then costs one election, not both (docs/decisions.md, HA)"))

    def _nospace(self, health: dict[str, Any], raised: bool) -> None:
        if raised and self._nospace_since is None:
            self._nospace_since = time.time()
            message = views.etcd_warnings({**health, "alarms": ["NOSPACE"]})[0]
            self.log.error("%s", message)
            at = time.strftime("%H:%M:%S", time.localtime(self._nospace_since))
            self._pending.append(("etcd.nospace", f"at {at} {message}"))
        elif not raised and self._nospace_since is not None:
            self._nospace_since = None
            self.log.info("etcd's NOSPACE alarm is gone: it takes writes again")

    def _nearly_full(self, health: dict[str, Any], full: bool) -> None:
        size, quota = health.get("db_bytes") or 0, health.get("quota_bytes")
        if not quota or full:
            return
        if size >= views.ETCD_FULL_WARNING * quota and not self._warned_full:
            self._warned_full = True
            self._pending.append(("etcd.space", views.etcd_warnings({**health, "alarms": []})[0]))
        elif size < CLEAR * quota:
            self._warned_full = False

    def _flush(self) -> None:
        """Write the events not written yet; those etcd refuses (or a manager
        that does not lead may not write) wait for the next pass, the last
        ``KEPT`` of them."""
        del self._pending[:-KEPT]
        while self._pending:
            kind, message = self._pending[0]
            try:
                self.events.record_event(kind, "etcd", message)
            except errors.SimpleCloudError:
                return
            self._pending.pop(0)
