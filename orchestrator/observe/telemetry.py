"""Telemetry: the manager's Prometheus metrics, in a registry of its own.

One ``Telemetry`` per manager (``Controller.telemetry``) owns a
``prometheus_client.CollectorRegistry`` (never the process-wide ``REGISTRY``:
tests build several managers in one process) and the instruments the loops
record into, through one small method each:

==========================================  =====================================
recorded by                                 method
==========================================  =====================================
``HostReconciler.reconcile_once``           ``reconcile_pass(host, seconds, outcome)``
``HostReconciler`` chains (each step)       ``action(host, kind, outcome, seconds)``
``HostReconciler`` (observe the host)       ``host_call(host, call, seconds)``
``Controller`` (link went up or down)       ``link_change(host, up)``
``Autoscaler.decide_one``                   ``autoscale_decision(app, current, replicas)``
==========================================  =====================================

What is cheaper to read when Prometheus asks than to keep up to date (nodes
from etcd, link states, the sampler's figures) comes from the collectors in
``observe/collectors.py``, added with ``add_collector``. ``render()`` is the
exposition (text format) that ``GET /metrics`` serves. Label values of
outcomes and directions are closed sets: a typo is a ValueError, not a new
series. docs/metrics.md lists every metric.
"""
from __future__ import annotations

import time
from collections.abc import Collection

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from orchestrator import __version__

# The ``*_created`` series (one per counter and histogram child) would double
# the exposition and say nothing a reader of this project needs.
prometheus_client.disable_created_metrics()

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

PASS_OUTCOMES = frozenset({
    "in_sync",               # observed, nothing to do
    "acted",                 # every planned step done
    "step_failed",           # at least one step failed (its chain ends; the next pass goes on)
    "host_unreachable",      # the host's link is down or its engine did not answer
    "haproxy_unreachable",   # HAProxy's admin socket did not answer
    "no_pods",               # no pod lives on this host (any more)
    "error",                 # an unexpected exception (logged with its traceback)
})
ACTION_OUTCOMES = frozenset({"ok", "failed", "skipped"})   # skipped: after a failed step of its chain
DIRECTIONS = ("up", "down", "none")

PASS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ACTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Telemetry:
    """The registry and instruments of one manager (see the module docstring)."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self.registry = r = CollectorRegistry()
        Gauge("simplecloud_build_info", "Always 1; the orchestrator's version as a label.",
              ["version"], registry=r).labels(__version__).set(1)
        self._leader = Gauge("simplecloud_leader",
                             "1 while this manager is the leader (its acting loops run), else 0.", registry=r)
        self._epoch = Gauge("simplecloud_leader_epoch",
                            "The epoch of this manager's current term as leader (0 when it does not lead).",
                            registry=r)
        self._running = Gauge("simplecloud_controller_running",
                              "1 while this manager's controller loops run, else 0.", registry=r)
        self._passes = Counter("simplecloud_reconcile_passes",
                               "Reconcile passes per pod host, by outcome.",
                               ["host", "outcome"], registry=r)
        self._pass_seconds = Histogram("simplecloud_reconcile_duration_seconds",
                                       "Duration of one reconcile pass (observe, plan, act, write back).",
                                       ["host"], buckets=PASS_BUCKETS, registry=r)
        self._last_pass = Gauge("simplecloud_reconcile_last_pass_timestamp_seconds",
                                "Unix time at which the host's last reconcile pass ended.",
                                ["host"], registry=r)
        self._actions = Counter("simplecloud_actions",
                                "Steps the reconcilers carried out, by kind and outcome.",
                                ["host", "kind", "outcome"], registry=r)
        self._action_seconds = Histogram("simplecloud_action_duration_seconds",
                                         "Duration of one step (Docker over the host link, or "
                                         "HAProxy's Runtime API), failed ones included.",
                                         ["host", "kind"], buckets=ACTION_BUCKETS, registry=r)
        self._calls = Histogram("simplecloud_host_call_duration_seconds",
                                "Duration of a Docker call through a host link that every pass "
                                "makes (call=list_workers).",
                                ["host", "call"], buckets=CALL_BUCKETS, registry=r)
        self._link_changes = Counter("simplecloud_host_link_changes",
                                     "Host links going up or down (state=up|down).",
                                     ["host", "state"], registry=r)
        self._decisions = Counter("simplecloud_autoscale_decisions",
                                  "Autoscale decisions per app, by direction (up, down, none).",
                                  ["app", "direction"], registry=r)
        self._decided: set[tuple[str, str]] = set()

    # ------------------------------------------------------------ recording
    def leadership(self, leader: bool, epoch: int) -> None:
        """Whether this manager leads now, and the epoch of its term (0: none)."""
        self._leader.set(1 if leader else 0)
        self._epoch.set(epoch)

    def controller_running(self, running: bool) -> None:
        self._running.set(1 if running else 0)

    def reconcile_pass(self, host: str, seconds: float, outcome: str) -> None:
        """One pass of ``host``'s reconciler, ``seconds`` long."""
        if outcome not in PASS_OUTCOMES:
            raise ValueError(f"unknown reconcile outcome {outcome!r}; one of {sorted(PASS_OUTCOMES)}")
        self._passes.labels(host, outcome).inc()
        self._pass_seconds.labels(host).observe(max(0.0, seconds))
        self._last_pass.labels(host).set(self.clock())

    def action(self, host: str, kind: str, outcome: str, seconds: float | None = None) -> None:
        """One step (``kind`` e.g. "start_container"); a skipped step has no duration."""
        if outcome not in ACTION_OUTCOMES:
            raise ValueError(f"unknown action outcome {outcome!r}; one of {sorted(ACTION_OUTCOMES)}")
        self._actions.labels(host, kind, outcome).inc()
        if seconds is not None:
            self._action_seconds.labels(host, kind).observe(max(0.0, seconds))

    def host_call(self, host: str, call: str, seconds: float) -> None:
        self._calls.labels(host, call).observe(max(0.0, seconds))

    def link_change(self, host: str, up: bool) -> None:
        self._link_changes.labels(host, "up" if up else "down").inc()

    def autoscale_decision(self, app: str, current: int, replicas: int) -> str:
        """One decision for ``app``: from ``current`` to ``replicas``; returns its direction."""
        direction = "up" if replicas > current else "down" if replicas < current else "none"
        self._decisions.labels(app, direction).inc()
        self._decided.add((app, direction))
        return direction

    def forget_apps(self, keep: Collection[str]) -> None:
        """Remove the series of every app but ``keep`` (stopped, or no longer
        autoscaled): a deleted app leaves no series behind."""
        for app, direction in [k for k in self._decided if k[0] not in keep]:
            self._decisions.remove(app, direction)
            self._decided.discard((app, direction))

    # ------------------------------------------------------------ exposition
    def add_collector(self, collector) -> None:
        """A collector read at every scrape (``collect()`` yields metric families;
        it must not raise: see observe/collectors.py)."""
        self.registry.register(collector)

    def render(self) -> bytes:
        """The text exposition of everything in the registry."""
        return generate_latest(self.registry)
