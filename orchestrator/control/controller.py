"""The controller as a whole: starts the loops, wakes them, and follows the election.

The loops are built by the composition root (``server.build_controller``)
and handed in; ``Controller.start(stop)`` runs each in its own thread, in
two groups:

* **local** (``start_local``: what every manager runs, leader or not): the
  ``HAProxySync`` (haproxy.cfg from the apps, health-check changes), the
  ``LBMirror`` (this HAProxy's servers as the leader's), an etcd watcher
  (any change of desired state wakes every loop), the ``EtcdMonitor``
  (etcd's size and alarms), the ``Sampler`` (HAProxy
  counters, request times, workers' CPU) and the ``Waker`` (the first
  request of an app at zero: it scales the app through the desired state,
  which any manager may write);
* **acting** (``start_acting``: what changes hosts, HAProxy servers and
  the controllers' records): one ``HostReconciler`` per host (every host
  registered or named by a pod: a spare's too, to clean what a pod left on
  it), the ``Placer`` (nodes off lost and draining hosts), the
  ``Autoscaler`` (with the spares) and the ``WarmPools`` (their refill).

With a ``Leadership`` (edges/election.py) the acting loops run only while
this manager leads: each term of office starts them with a stop event of its
own and ends them when the lease is lost; every write they make is fenced by
the term's epoch and every step on a host or HAProxy is preceded by
``leadership.check()``. Without one (tests, a lone manager run by hand) they
run from the start.

The host links (``edges.hostlink``) wake the reconciler of their host when a
Docker event arrives for one of our containers (die, oom, start ...) and when
the link goes up or down; the leader writes a link's state change to etcd
(``links/<host>``: placement, the placer's grace, ``cloud host ls``) and
wakes the placer.

``telemetry`` (observe/telemetry.py) is the controller's Prometheus registry:
the loops record into it, and it reads nodes (etcd), link states and the
sampler's figures when ``/metrics`` is scraped.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from orchestrator.control.autoscaler import Autoscaler
from orchestrator.control.etcd_monitor import EtcdMonitor
from orchestrator.control.haproxy_sync import HAProxySync
from orchestrator.control.lb_mirror import LBMirror, PublishedHAProxy
from orchestrator.control.placer import Placer
from orchestrator.control.reconciler import HostReconciler
from orchestrator.control.sampler import Sampler
from orchestrator.control.waker import Waker
from orchestrator.control.warm_pools import WarmPools
from orchestrator.core import errors
from orchestrator.edges.election import LeaderInfo, Leadership
from orchestrator.edges.hostlink import LinkState
from orchestrator.edges.hostpool import HostPool
from orchestrator.edges.protocols import StoreProtocol
from orchestrator.observe.telemetry import Telemetry

WAKING_EVENTS = {"die", "oom", "kill", "stop", "start", "destroy", "pause", "unpause",
                 "health_status"}


class Controller:
    """Every controller loop of one manager, wired to its wake-ups."""

    def __init__(self, store: StoreProtocol, hosts: HostPool, haproxy_sync: HAProxySync, sampler: Sampler,
                 new_reconciler: Callable[[str], HostReconciler], interval: float, *,
                 autoscaler: Autoscaler | None = None, waker: Waker | None = None,
                 telemetry: Telemetry | None = None, log: logging.Logger | None = None,
                 leadership: Leadership | None = None, acting_store: StoreProtocol | None = None,
                 lb_mirror: LBMirror | None = None, published: PublishedHAProxy | None = None,
                 placer: Placer | None = None, etcd_monitor: EtcdMonitor | None = None,
                 warm_pools: WarmPools | None = None):
        """``new_reconciler(host)``: a reconciler for one pod host (made when a
        pod first names it); ``interval``: how long the etcd watch waits before
        it looks again (``reconcile_interval``); ``autoscaler``/``waker``: None
        runs neither; ``telemetry``: the metrics registry (default: a new one);
        ``leadership``: the election (None: act from the start);
        ``acting_store``: the store the acting loops write with (fenced by the
        leader's epoch; default ``store``); ``lb_mirror``: the load balancer's
        mirror (None: this manager's HAProxy is the only one); ``published``:
        the HAProxy the reconcilers drive, which publishes its servers;
        ``placer``: the placer (None: nodes stay where they were placed);
        ``etcd_monitor``: etcd's size and alarms, read by a local loop (None: none);
        ``warm_pools``: the warm pools' refill (None: a pool is refilled only
        when its app is updated)."""
        self.store = store
        self.acting_store = acting_store or store
        self.leadership = leadership
        self.lb_mirror = lb_mirror
        self.published = published
        self.hosts = hosts
        self.haproxy_sync = haproxy_sync
        self.sampler = sampler
        self.new_reconciler = new_reconciler
        self.interval = interval
        self.autoscaler = autoscaler
        self.waker = waker
        self.placer = placer
        self.warm_pools = warm_pools
        self.telemetry = telemetry or Telemetry()
        self.etcd_monitor = etcd_monitor
        self.log = log or logging.getLogger("orchestrator.controller")
        self.reconcilers: dict[str, HostReconciler] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stop: threading.Event | None = None
        self._acting = False                 # the acting loops run (start_acting)
        self._term: threading.Event | None = None   # ends the current term's acting loops
        self._reachable: dict[str, bool] = {}   # host → up, as last reported
        haproxy_sync.wake_hosts = self.wake_hosts
        hosts.on_event = self._on_docker_event
        hosts.on_state = self._on_link_state

    # ------------------------------------------------------------ wake-ups
    def wake_hosts(self) -> None:
        with self._lock:
            for rec in self.reconcilers.values():
                rec.wake.set()

    def wake_all(self) -> None:
        self.haproxy_sync.wake.set()
        if self.placer is not None:
            self.placer.wake.set()
        if self.warm_pools is not None:
            self.warm_pools.wake.set()
        if self.etcd_monitor is not None:
            self.etcd_monitor.wake.set()
        self.wake_hosts()

    def _on_docker_event(self, host: str, event: dict) -> None:
        if event.get("status") in WAKING_EVENTS or event.get("Action") in WAKING_EVENTS:
            rec = self.reconcilers.get(host)
            if rec is not None:
                rec.wake.set()

    def _on_link_state(self, host: str, state: LinkState) -> None:
        """A link went up or down, or is down with another error: the state is
        written; an event only when the host's reachability changed (a host
        that stays down with varying errors is one event, not one per try)."""
        flipped = self._reachable.get(host) != state.up
        self._reachable[host] = state.up
        if flipped:
            self.telemetry.link_change(host, state.up)
        if not self._acting:
            return                            # a follower's links serve the API only; the leader records
        try:
            self.acting_store.put_link_state(host, self._link_record(host, state))
            if flipped and state.up:
                self.acting_store.record_event("host.reachable", f"host/{host}",
                                               f"host {host} is reachable (ping {state.rtt_ms} ms)")
            elif flipped:
                self.acting_store.record_event(
                    "host.unreachable", f"host/{host}",
                    f"host {host} is unreachable: {state.error}; its nodes are "
                    "left as they are and shown as unreachable until it answers, or placed on the "
                    "other hosts of their pods after the grace period")
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot record the state of host %s: %s", host, exc)
        rec = self.reconcilers.get(host)
        if rec is not None:
            rec.wake.set()
        if self.placer is not None:
            self.placer.wake.set()

    def _link_record(self, host: str, state: LinkState) -> dict:
        """A link's state for ``links/<host>``; a host already unreachable keeps
        its first ``since`` (a new leader's link to a lost host starts later)."""
        record = state.to_dict()
        if not state.up:
            before = self.acting_store.list_link_states().get(host) or {}
            since = before.get("since")
            if before.get("reachable") is False and isinstance(since, (int, float)) and since < state.since:
                record["since"] = since
        return record

    # ------------------------------------------------------------ threads
    def start(self, stop: threading.Event) -> None:
        """Start every loop in the background; they end when ``stop`` is set.
        With a leadership, the acting loops start when this manager is elected."""
        self.start_local(stop)
        if self.leadership is None:
            self.start_acting(stop)
            return
        self.leadership.on_change = self._on_leadership
        self.telemetry.leadership(False, 0)
        self._spawn("leader-election", self.leadership.run, stop)

    def start_local(self, stop: threading.Event) -> None:
        """The loops every manager runs for itself: its HAProxy and its mirror of
        the leader's servers, the etcd watch, the sampler, the waker."""
        self._stop = stop
        self.telemetry.controller_running(True)
        self._spawn("haproxy-sync", self.haproxy_sync.run, stop)
        if self.lb_mirror is not None:
            self._spawn("lb-mirror", self.lb_mirror.run, stop)
        self._spawn("etcd-watch", self._watch_etcd, stop)
        if self.etcd_monitor is not None:
            self._spawn("etcd-monitor", self.etcd_monitor.run, stop)
        self.sampler.start()
        self._spawn("metrics-stop", self._close_on_stop, stop)
        if self.waker is not None and self.waker.port:
            try:
                self.waker.start(stop)
            except OSError as exc:
                self.log.error("cannot hold requests for apps at zero on 127.0.0.1:%d (%s); "
                               "their first request gets a 503", self.waker.port, exc)

    def start_acting(self, stop: threading.Event) -> None:
        """The loops that change hosts, servers and the controllers'
        records: a reconciler per host, the placer, the autoscaler, the warm
        pools' refill. They end
        with ``stop`` (a term's own event under an election)."""
        with self._lock:
            self._term = stop
            self._acting = True
            self.reconcilers = {}
        self.ensure_reconcilers()
        if self.placer is not None:
            self._spawn("placer", self.placer.run, stop)
        if self.autoscaler is not None:
            self._spawn("autoscaler", self.autoscaler.run, stop)
        if self.warm_pools is not None:
            self._spawn("warm-pools", self.warm_pools.run, stop)

    def _on_leadership(self, info: LeaderInfo | None, reason: str) -> None:
        """The election's news (its thread): a term starts or ends."""
        if info is not None:
            if self._stop is not None and self._stop.is_set():
                return
            self.telemetry.leadership(True, info.epoch)
            self.start_acting(threading.Event())
            self.wake_all()
            self._record(self.acting_store, "leader.elected", info.name,
                         f"manager {info.name} leads (epoch {info.epoch}): {reason}")
            return
        with self._lock:
            ended, self._term, self._acting = self._term, None, False
            self.reconcilers = {}
        if ended is not None:
            ended.set()
        self.telemetry.leadership(False, 0)
        name = self.leadership.name if self.leadership is not None else "?"
        self._record(self.store, "leader.lost", name, f"manager {name} no longer leads: {reason}")

    def leading(self) -> PublishedHAProxy | None:
        """The leader's published HAProxy while this manager leads and may act (LBMirror)."""
        if not self._acting or (self.leadership is not None and not self.leadership.may_act()):
            return None
        return self.published

    def _record(self, store: StoreProtocol, kind: str, manager: str, message: str) -> None:
        self.log.log(logging.WARNING if kind == "leader.lost" else logging.INFO, message)
        try:
            store.record_event(kind, f"manager/{manager}", message)
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot record %s: %s", kind, exc)

    def ensure_reconcilers(self) -> None:
        """A reconciler for every host registered or named by a pod (called at
        start and on changes), while the acting loops run."""
        term = self._term
        if not self._acting or term is None or term.is_set():
            return
        try:
            hosts = {h for p in self.store.list_pods() for h in p.hosts} | {h.name for h in self.store.list_hosts()}
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot list pods and hosts: %s", exc)
            return
        for host in sorted(hosts):
            with self._lock:
                if host in self.reconcilers:
                    continue
                rec = self.new_reconciler(host)
                self.reconcilers[host] = rec
            self._spawn(f"reconcile-{host}", rec.run, term)

    def _close_on_stop(self, stop: threading.Event) -> None:
        stop.wait()
        term = self._term
        if term is not None:
            term.set()                        # the acting loops of the current term end too
        self.wake_all()                       # loops that wait on their wake event see the stop now
        self.sampler.close()
        self.telemetry.controller_running(False)

    def join(self, timeout: float) -> bool:
        """Wait for every loop to end; False if one is still running."""
        for t in self._threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self._threads)

    def _spawn(self, name: str, target: Callable[[threading.Event], None], stop: threading.Event) -> None:
        def loop() -> None:
            try:
                target(stop)
            except Exception:  # noqa: BLE001 - say why, the others go on
                self.log.exception("controller loop %s stopped on an unexpected error", name)
        t = threading.Thread(target=loop, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _watch_etcd(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                changed = self.store.wait_for_change(timeout=self.interval)
            except Exception as exc:  # noqa: BLE001 - etcd down: wait, then try again
                self.log.warning("cannot watch etcd (%s); trying again in %ss", exc, self.interval)
                stop.wait(self.interval)
                continue
            if changed:
                self.ensure_reconcilers()
                self.wake_all()
