"""Leader election on an etcd lease, with an epoch that fences every write.

Several managers run; exactly one of them (the *leader*) may act on pod hosts
and write the controllers' records. This is etcd's own Election pattern
(Go, ``clientv3/concurrency``), in the small:

* **campaign**: grant a lease of ``ttl`` seconds, then one transaction
  ``IF create_revision(leader) == 0 THEN put(leader, me, lease)``. The one
  whose put lands is the leader; its **epoch** is the revision of that
  transaction, which is the leader key's create revision. A later leader's
  key is created later, so its epoch is larger.
* **renew**: every ``renew_interval`` seconds one keep-alive of the lease.
  The lease keeps the key alive; if the leader dies, etcd deletes the key
  ``ttl`` seconds after its last keep-alive and a follower's next campaign
  succeeds.
* **renew deadline**: the leader acts only while its last successful renew
  *started* less than ``renew_deadline`` (< ``ttl``) seconds ago, on the
  monotonic clock. etcd counts the lease from when it *received* that
  keep-alive, so the leader stops acting before the lease can expire, even if
  it was frozen (SIGSTOP, a paused VM) and has not noticed yet: the first
  thing it checks after waking is this clock. Kubernetes' client-go does the
  same and says it still does not guarantee a single actor; the epoch fence
  closes the gap for etcd, and ``Leadership.check()`` before every side
  effect narrows it for hosts and HAProxy.
* **fence**: ``fence()`` is the comparison ``create_revision(leader) ==
  epoch`` that every controller write adds to its transaction. A deposed
  leader's write compares false and changes nothing.

etcd restarts every lease's TTL when its own leader changes (etcd issues
9395, 13294): if the simplecloud leader dies with the etcd leader, takeover
takes the etcd election plus up to a whole ``ttl`` (docs/decisions.md, "HA").
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from etcd3 import etcdrpc
from etcd3.exceptions import Etcd3Exception

from orchestrator.core import errors
from orchestrator.core.errors import NotLeader

log = logging.getLogger(__name__)

LEADER_KEY = "leader"


@dataclass(frozen=True)
class LeaderInfo:
    """What the leader key says: who leads, since when, with which epoch."""

    name: str
    epoch: int
    since: float
    api: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "epoch": self.epoch, "since": self.since, "api": self.api}


@dataclass(frozen=True)
class ElectionTimes:
    """The election's clock (seconds), see the module docstring.

    ``renew_deadline`` < ``ttl`` so a leader stops before its lease can lapse;
    ``retry`` is how often a follower tries to campaign (and how soon it sees
    a free key: takeover ≤ ttl + retry after the leader's last renew)."""

    ttl: int = 3
    renew_interval: float = 0.5
    renew_deadline: float = 2.0
    retry: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.renew_interval < self.renew_deadline < self.ttl:
            raise ValueError(f"election times must satisfy 0 < renew_interval ({self.renew_interval}) "
                             f"< renew_deadline ({self.renew_deadline}) < ttl ({self.ttl})")


class Leadership:
    """Campaigns for ``<prefix>leader`` and keeps it while this process may act.

    ``run(stop)`` loops until ``stop``: campaign, renew, notice the loss,
    campaign again. ``on_change(info | None, reason)`` is called in that
    thread when this manager becomes leader (its ``LeaderInfo``) or stops
    being one (None), with the reason in words."""

    def __init__(self, client: Any, prefix: str, name: str, times: ElectionTimes = ElectionTimes(),
                 api: str = "", on_change: Callable[[LeaderInfo | None, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, timeout: float = 2.0):
        """``client``: an etcd3 client (its ``channel`` is used for raw calls);
        ``name``: this manager (inventory name); ``api``: its API URL, shown
        to users."""
        self.client = client
        self.key = (prefix if prefix.endswith("/") else prefix + "/") + LEADER_KEY
        self.name = name or socket.gethostname()
        self.times = times
        self.api = api
        self.on_change = on_change
        self.clock = clock
        self.timeout = timeout
        self._kv = etcdrpc.KVStub(client.channel)
        self._lease_stub = etcdrpc.LeaseStub(client.channel)
        self._lock = threading.Lock()
        self._lease: int | None = None
        self._info: LeaderInfo | None = None       # ours, while we lead
        self._renewed_at = float("-inf")           # monotonic start of the last good renew

    # ------------------------------------------------------------ may we act?
    @property
    def epoch(self) -> int | None:
        info = self._info
        return info.epoch if info is not None else None

    def may_act(self) -> bool:
        """Leader, and the last renew started less than ``renew_deadline`` ago."""
        with self._lock:
            return self._info is not None and self.clock() - self._renewed_at < self.times.renew_deadline

    def check(self) -> int:
        """The epoch to act under; NotLeader if this manager may not act now."""
        with self._lock:
            info, age = self._info, self.clock() - self._renewed_at
        if info is None:
            raise NotLeader(f"manager {self.name} is not the leader")
        if age >= self.times.renew_deadline:
            raise NotLeader(f"manager {self.name} has not renewed its leadership for {age:.1f} s "
                            f"(deadline {self.times.renew_deadline:g} s): it stops acting")
        return info.epoch

    def fence(self, epoch: int | None = None) -> Any:
        """The comparison that pins a transaction to ``epoch`` (default: ours).
        NotLeader if there is none."""
        epoch = self.check() if epoch is None else epoch
        return etcdrpc.Compare(result=etcdrpc.Compare.EQUAL, target=etcdrpc.Compare.CREATE,
                               key=self.key.encode(), create_revision=epoch)

    # ------------------------------------------------------------ who leads?
    def leader(self) -> LeaderInfo | None:
        """The current leader as etcd says (None: nobody holds the key)."""
        response = self._call(self._kv.Range, etcdrpc.RangeRequest(key=self.key.encode()))
        if not response.kvs:
            return None
        kv = response.kvs[0]
        return _decode(kv.value, kv.create_revision)

    # ------------------------------------------------------------ the loop
    def run(self, stop: threading.Event) -> None:
        """Campaign and renew until ``stop``; resign (revoke the lease) at the end."""
        try:
            while not stop.is_set():
                if self._info is None:
                    try:
                        self.campaign()
                    except errors.SimpleCloudError as exc:
                        log.warning("cannot campaign for leadership: %s", exc)
                    if self._info is None:
                        stop.wait(self.times.retry)
                    continue
                self._renew_once()
                if self._info is not None:
                    stop.wait(self.times.renew_interval)
        finally:
            self.resign("the manager stops")

    def campaign(self) -> bool:
        """One attempt to become leader; True if this manager leads now."""
        lease = self._call(self._lease_stub.LeaseGrant, etcdrpc.LeaseGrantRequest(TTL=self.times.ttl))
        started = self.clock()
        value = json.dumps({"name": self.name, "since": time.time(), "api": self.api,
                            "pid": os.getpid()}).encode()
        request = etcdrpc.TxnRequest(
            compare=[etcdrpc.Compare(result=etcdrpc.Compare.EQUAL, target=etcdrpc.Compare.CREATE,
                                     key=self.key.encode(), create_revision=0)],
            success=[etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=self.key.encode(), value=value,
                                                                      lease=lease.ID))],
            failure=[])
        try:
            response = self._call(self._kv.Txn, request)
        except errors.SimpleCloudError:
            self._revoke(lease.ID)
            raise
        if not response.succeeded:
            self._revoke(lease.ID)
            return False
        info = _decode(value, response.header.revision)
        with self._lock:
            self._lease, self._info, self._renewed_at = lease.ID, info, started
        log.info("manager %s is the leader (epoch %d)", self.name, info.epoch)
        self._notify(info, f"won the election (epoch {info.epoch})")
        return True

    def _renew_once(self) -> None:
        started = self.clock()
        lease = self._lease
        try:
            ttl = self._keepalive(lease)
        except errors.SimpleCloudError as exc:
            if self.clock() - self._renewed_at >= self.times.renew_deadline:
                self._lost(f"could not renew its lease for {self.times.renew_deadline:g} s ({exc})")
            return
        if ttl <= 0:
            self._lost("its lease had expired (the manager was frozen or cut off from etcd)")
            return
        with self._lock:
            if self._lease != lease:
                return                         # resigned meanwhile
            late = started - self._renewed_at >= self.times.renew_deadline
            if not late:
                self._renewed_at = started
                return
        # the lease lives, but this manager stopped acting at its deadline and may
        # have missed work: start a new term (a new epoch) rather than resume the old
        self._lost("it renewed only after its renew deadline had passed")

    def _keepalive(self, lease: int | None) -> int:
        """One keep-alive; the lease's TTL as etcd now counts it (≤ 0: gone)."""
        if lease is None:
            return 0
        request = etcdrpc.LeaseKeepAliveRequest(ID=lease)
        try:
            for response in self._lease_stub.LeaseKeepAlive(iter([request]), self.timeout):
                return int(response.TTL)
        except grpc.RpcError as exc:
            raise errors.Unavailable(f"etcd did not answer the keep-alive ({exc.code().name})") from exc
        return 0

    def _lost(self, reason: str) -> None:
        with self._lock:
            lease, self._lease, self._info = self._lease, None, None
            self._renewed_at = float("-inf")
        log.warning("manager %s is no longer the leader: %s", self.name, reason)
        if lease is not None:
            self._revoke(lease)
        self._notify(None, reason)

    def resign(self, reason: str = "resigned") -> None:
        """Give up leadership (the key goes with the lease): a clean stop hands over at once."""
        if self._info is not None:
            self._lost(reason)

    def _revoke(self, lease: int) -> None:
        try:
            self._call(self._lease_stub.LeaseRevoke, etcdrpc.LeaseRevokeRequest(ID=lease))
        except (errors.SimpleCloudError, ValueError) as exc:   # ValueError: the channel was closed
            log.info("could not revoke lease %x (it expires by itself): %s", lease, exc)

    def _notify(self, info: LeaderInfo | None, reason: str) -> None:
        if self.on_change is not None:
            try:
                self.on_change(info, reason)
            except Exception:  # noqa: BLE001 - a handler bug must not end the election loop
                log.exception("leadership change handler failed")

    def _call(self, fn: Callable, request: Any) -> Any:
        try:
            return fn(request, self.timeout)
        except grpc.RpcError as exc:
            raise errors.Unavailable(f"etcd is not reachable ({exc.code().name})") from exc
        except Etcd3Exception as exc:
            raise errors.Unavailable(f"etcd is not reachable ({type(exc).__name__})") from exc


def _decode(raw: bytes, epoch: int) -> LeaderInfo:
    try:
        data = json.loads(raw)
        return LeaderInfo(name=str(data.get("name", "?")), epoch=epoch,
                          since=float(data.get("since", 0.0)), api=str(data.get("api", "")))
    except (ValueError, TypeError, AttributeError):
        return LeaderInfo(name="?", epoch=epoch, since=0.0)
