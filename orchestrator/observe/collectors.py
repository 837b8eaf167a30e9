"""Figures read when Prometheus scrapes, never by a loop of their own.

``StoreCollector``: nodes by pod, app and state — the desired status from
etcd and the phase the reconcilers last saw (``observed/``) — pods' capacity
and the autoscale policies with the replicas last decided. Reading etcd at
scrape time is **bounded and fails soft**: the read runs in a thread of its
own and the scrape waits for it at most ``deadline`` seconds; a read that
fails or is late leaves the last good figures in place and
``simplecloud_store_up`` at 0 (a scrape while etcd is down still answers 200).
Only one read is in flight at a time (a late one is waited for again by the
next scrape, not doubled), and one younger than ``min_interval`` is reused,
so a client that scrapes in a loop cannot load etcd.

``LinkCollector``: each host link's state (up, last ping) from memory.
``EtcdCollector``: etcd's database size, quota, revision and alarms, as the
etcd monitor last read them (control/etcd_monitor.py).
``FiguresCollector``: the metrics sampler's per-app window (req/s, in
flight, p95, CPU), from memory.

A collector never raises: ``prometheus_client`` would turn that into a
failed scrape. A failing source is logged once (until it answers again) and
left out.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from orchestrator.core import observed as observed_views
from orchestrator.core.model import NodeStatus

log = logging.getLogger(__name__)

STORE_DEADLINE = 2.0      # seconds a scrape waits for etcd
STORE_MIN_INTERVAL = 1.0  # seconds a good read is reused


@dataclass
class Snapshot:
    """What one read of etcd gave, already counted."""

    time: float
    desired: Counter = field(default_factory=Counter)    # (pod, app, status) -> nodes
    observed: Counter = field(default_factory=Counter)   # (pod, app, phase) -> nodes
    capacity: dict[str, int] = field(default_factory=dict)                    # pod -> max_nodes
    autoscale: dict[str, tuple[Any, Any, Any]] = field(default_factory=dict)  # app -> (min, max, decided)
    warm: dict[str, tuple[int, int]] = field(default_factory=dict)    # app -> (warm nodes, its warm setting)


def count_nodes(nodes: Iterable, records: Mapping) -> tuple[Counter, Counter]:
    """Nodes by (pod, app, desired status) and by (pod, app, observed phase);
    a live node the controller has not seen yet (or only an earlier node of
    the same name) is phase "unknown", so both counts add up alike."""
    desired: Counter[tuple[str, str, str]] = Counter()
    seen: Counter[tuple[str, str, str]] = Counter()
    for node in nodes:
        desired[(node.pod, node.app, node.status.value)] += 1
        if node.status != NodeStatus.REMOVED:
            view = observed_views.current(records.get((node.pod, node.name)), node) or {}
            seen[(node.pod, node.app, str(view.get("phase", "unknown")))] += 1
    return desired, seen


def read_snapshot(store, now: float) -> Snapshot:
    """One read of everything ``StoreCollector`` shows (six etcd ranges)."""
    nodes = store.list_nodes()
    desired, seen = count_nodes(nodes, store.list_observed())
    pools = Counter(n.app for n in nodes if n.warm and n.status != NodeStatus.REMOVED)
    warm = {a.name: (pools[a.name], a.warm) for a in store.list_apps()}
    policies, states = store.list_autoscale(), store.list_autoscale_states()
    autoscale = {}
    for app, policy in policies.items():
        last = (states.get(app) or {}).get("last") or {}
        autoscale[app] = (policy.min, policy.max, last.get("replicas"))
    return Snapshot(now, desired, seen, {p.name: p.max_nodes for p in store.list_pods()}, autoscale, warm)


class _Read:
    """One read of etcd in a daemon thread (a frozen etcd holds no scrape)."""

    def __init__(self, store, now: float):
        self.done = threading.Event()
        self.result: Snapshot | None = None
        self.error: str = ""
        threading.Thread(target=self._run, args=(store, now), name="metrics-store-read",
                         daemon=True).start()

    def _run(self, store, now: float) -> None:
        try:
            self.result = read_snapshot(store, now)
        except Exception as exc:  # noqa: BLE001 - any failure: keep the last figures
            self.error = str(exc) or type(exc).__name__
        finally:
            self.done.set()


class StoreCollector:
    """Nodes, pods and autoscale figures from etcd (see the module docstring)."""

    def __init__(self, store, deadline: float = STORE_DEADLINE,
                 min_interval: float = STORE_MIN_INTERVAL, clock=time.time):
        self.store = store
        self.deadline = deadline
        self.min_interval = min_interval
        self.clock = clock
        self.last: Snapshot | None = None
        self.error = ""
        self._read: _Read | None = None
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Make ``last`` as fresh as etcd allows within the deadline; True if it is."""
        with self._lock:
            if self.last is not None and self.clock() - self.last.time < self.min_interval and not self.error:
                return True
            if self._read is None or self._read.done.is_set():
                self._keep(self._read)            # a late read that ended since
                self._read = _Read(self.store, self.clock())
            read = self._read
        if not read.done.wait(self.deadline):
            self._problem(f"etcd did not answer within {self.deadline} s")
            return False
        if read.error:
            self._problem(read.error)
            return False
        with self._lock:
            self._keep(read)
        self._problem("")
        return True

    def _keep(self, read: _Read | None) -> None:
        if read is not None and read.result is not None and (
                self.last is None or read.result.time >= self.last.time):
            self.last = read.result

    def _problem(self, error: str) -> None:
        if error and error != self.error:
            log.warning("/metrics: cannot read etcd (%s); serving the last figures read", error)
        elif not error and self.error:
            log.info("/metrics: etcd answers again")
        self.error = error

    def collect(self):
        fresh = self.refresh()
        up = GaugeMetricFamily("simplecloud_store_up",
                               "1 if this scrape read etcd, 0 if it failed or was late "
                               "(the figures below are then the last ones read).")
        up.add_metric([], 1 if fresh else 0)
        yield up
        snap = self.last
        if snap is None:
            return
        yield _gauge("simplecloud_store_last_read_timestamp_seconds",
                     "Unix time of the last good read of etcd.", [], {(): snap.time})
        yield _gauge("simplecloud_nodes", "Nodes by pod, app and desired status (etcd).",
                     ["pod", "app", "status"], snap.desired)
        yield _gauge("simplecloud_nodes_observed",
                     "Nodes by pod, app and the phase the controller last saw (unknown: not seen yet).",
                     ["pod", "app", "phase"], snap.observed)
        yield _gauge("simplecloud_pod_capacity_nodes", "Most nodes a pod may hold.",
                     ["pod"], {(pod,): n for pod, n in snap.capacity.items()})
        yield _gauge("simplecloud_app_warm_nodes", "Nodes in the app's warm pool (started, taking no requests).",
                     ["app"], {(app,): v[0] for app, v in snap.warm.items()})
        yield _gauge("simplecloud_app_warm_target", "The app's warm setting: warm nodes it keeps.",
                     ["app"], {(app,): v[1] for app, v in snap.warm.items()})
        for i, (name, text) in enumerate((
                ("simplecloud_autoscale_min_replicas", "The app's autoscale policy: min."),
                ("simplecloud_autoscale_max_replicas", "The app's autoscale policy: max."),
                ("simplecloud_autoscale_desired_replicas", "Replicas of the autoscaler's last decision."))):
            yield _gauge(name, text, ["app"], {(app,): v[i] for app, v in snap.autoscale.items()})


class _MemoryCollector:
    """A collector of figures the manager holds in memory, read by calling
    ``read()``; a failing read is logged once (until it works again) and
    leaves its families out of the scrape. Subclasses say what they read
    (``what``) and turn it into families (``families``)."""

    what = "figures"

    def __init__(self, read: Callable[[], Mapping[str, Any]]):
        self.read = read
        self._failing = False

    def collect(self):
        try:
            data = dict(self.read())
        except Exception:  # noqa: BLE001 - a scrape never fails on us
            if not self._failing:
                log.exception("/metrics: cannot read %s", self.what)
            self._failing = True
            return
        self._failing = False
        yield from self.families(data)

    def families(self, data: dict) -> Iterable[GaugeMetricFamily]:
        raise NotImplementedError


class LinkCollector(_MemoryCollector):
    """Each host link's state, from ``read()`` → {host: LinkState}."""

    what = "the host links"

    def families(self, states):
        yield _gauge("simplecloud_host_link_up", "1 if the manager's link to the pod host is up.",
                     ["host"], {(h, ): 1 if s.up else 0 for h, s in states.items()})
        yield _gauge("simplecloud_host_link_rtt_seconds",
                     "Round trip of the link's last ping (GET /_ping through the link).",
                     ["host"], {(h,): s.rtt_ms / 1000 for h, s in states.items() if s.rtt_ms is not None})


ETCD_ALARMS = ("NOSPACE", "CORRUPT")


class EtcdCollector(_MemoryCollector):
    """etcd's database and alarms as the etcd monitor last read them
    (``EtcdMonitor.reading()``: control/etcd_monitor.py); nothing while unknown."""

    what = "etcd's health"

    def families(self, health):
        if not health:
            return
        yield _gauge("simplecloud_etcd_db_bytes", "Size of etcd's database (the member the manager talks to).",
                     [], {(): health.get("db_bytes")})
        yield _gauge("simplecloud_etcd_quota_bytes", "etcd's quota (--quota-backend-bytes); past it, no write.",
                     [], {(): health.get("quota_bytes")})
        yield _gauge("simplecloud_etcd_revision", "etcd's current revision (it grows with every write).",
                     [], {(): health.get("revision")})
        active = set(health.get("alarms") or [])
        yield _gauge("simplecloud_etcd_alarm", "1 while etcd has this alarm raised (NOSPACE: it refuses writes).",
                     ["type"], {(name,): 1 if name in active else 0 for name in sorted(set(ETCD_ALARMS) | active)})


FIGURES = (   # figures() field, metric, help, scale
    ("rps", "simplecloud_app_requests_per_second", "Requests/s through HAProxy, averaged over the last 10 s.", 1),
    ("inflight", "simplecloud_app_inflight_requests", "Requests in progress or queued (10 s average).", 1),
    ("p95_ms", "simplecloud_app_latency_p95_seconds", "95th percentile response time, last 10 s.", 0.001),
    ("cpu", "simplecloud_app_cpu_percent", "CPU per serving node, % of its limit (10 s average).", 1),
    ("serving", "simplecloud_app_serving_nodes", "Servers UP in HAProxy in the newest reading.", 1),
)


class FiguresCollector(_MemoryCollector):
    """The sampler's per-app figures (``Sampler.figures()``: what the
    autoscaler sees); unknown figures (None) are left out, never 0."""

    what = "the sampler's figures"

    def families(self, figures):
        for key, name, text, scale in FIGURES:
            yield _gauge(name, text, ["app"], {(app,): f[key] * scale for app, f in figures.items()
                                               if f.get(key) is not None})


def _gauge(name: str, text: str, labels: list[str], values: Mapping[tuple, Any]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=labels)
    for key, value in sorted(values.items()):
        if value is not None:
            family.add_metric(list(key), float(value))
    return family
