"""The autoscaler loop: sample, decide, scale, remember.

The metrics sampler (control/sampler.py) reads HAProxy's counters and the
workers' CPU every ``metrics_interval`` in its own thread; every
``decision_interval`` the autoscaler asks the pure decision (core/autoscale/) what each
autoscaled app should have, scales the app through the apps use case it is handed, and
keeps what it remembers (windows, cooldowns, the last decision), its windows
reduced to their runs (``autoscale.compacted``). It writes that memory to etcd
when it says something new (``autoscale.news``: another count, a rule's or
idleness' clock, another decision) and at least every ``REFRESH`` seconds, not
every pass: a steady app costs one small write a minute. A restarted manager
resumes from it (its windows at most ``REFRESH`` seconds behind). The memory
is written only for the incarnation of the app it is about
(``created_revision``): one decided just before a stop is not written after it.

Every change is an ``autoscale`` event with its numbers, and every decision
is counted in ``telemetry`` (by app and direction, for /metrics). When a pod
has no room for what was wanted, the autoscaler first adds a spare host to it
(control/spares.py: ``host.lent``), and gives it back once the pod has not
needed it for ``spare_return_window``; with no spare it is never a silent
cap: the event says "pod light is full: 40 nodes on pod-light-1 (20/20 ...),
pod-light-2 (20/20 ...); wanted 44 ...; no spare host to add".
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from orchestrator.control.reporting import Reporter
from orchestrator.control.sampler import Sampler
from orchestrator.control.spares import SpareHosts
from orchestrator.core import autoscale, errors
from orchestrator.core.model import App, Pod
from orchestrator.core.pools import node_size, pool_of, unreachable_since
from orchestrator.core.scaling import serving_nodes
from orchestrator.core.schema import Autoscale
from orchestrator.edges.protocols import StoreProtocol
from orchestrator.observe.telemetry import Telemetry
from orchestrator.settings import AutoscaleSettings

REFRESH = 60.0
"""Seconds after which an unchanged memory is written anyway (``last`` as the API shows it)."""


class Scaler(Protocol):
    """What the autoscaler and the waker scale apps with, and the warm pools
    refill with (``usecases.apps.Apps``)."""

    def scale_to(self, app: App, replicas: int, message: str = "") -> int: ...

    def fill_pool(self, app: App, at_most: int | None = None) -> int: ...


class Autoscaler:
    """Decides the replicas of every app that has a policy."""

    def __init__(self, store: StoreProtocol, scaler: Scaler, sampler: Sampler, settings: AutoscaleSettings,
                 log: logging.Logger | None = None, clock: Callable[[], float] = time.time,
                 telemetry: Telemetry | None = None, spares: SpareHosts | None = None):
        """``scaler``: what scales an app (the apps use case); ``telemetry``:
        where decisions are counted (None: a private one); ``spares``: the
        spare hosts it lends to full pods (None: a full pod stays full)."""
        self.store = store
        self.spares = spares
        self.wanting: set[str] = set()        # pods an app wanted more of than fit, this pass
        self.telemetry = telemetry or Telemetry()
        self.scaler = scaler
        self.sampler = sampler
        self.settings = settings
        self.log = log or logging.getLogger("orchestrator.autoscaler")
        self.clock = clock
        self.reporter = Reporter(store, self.log)
        self._memory: dict[str, tuple[int, dict[str, Any]]] = {}   # app → (created_revision, memory)
        self._written: dict[str, tuple[int, tuple[Any, ...], float]] = {}   # app → (created, news, when)

    def run(self, stop: threading.Event) -> None:
        """Decide every ``decision_interval`` until ``stop`` (the sampler runs on its own)."""
        while not stop.wait(self.settings.decision_interval):
            try:
                self.decide_all()
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                self.reporter.error("autoscale.error", "autoscaler", f"an autoscaler pass failed: "
                                    f"{type(exc).__name__}: {exc}", key="pass",
                                    exc=None if isinstance(exc, errors.SimpleCloudError) else exc)
            self.reporter.tick()

    def decide_all(self) -> None:
        """One decision for every autoscaled app (an app's failure does not stop
        the others), then the spare hosts' review."""
        self.wanting = set()
        try:
            self._decide_apps()
        finally:
            if self.spares is not None:
                self.spares.review(self.wanting)

    def _decide_apps(self) -> None:
        policies = self.store.list_autoscale()
        apps = {a.name: a for a in self.store.list_apps()}
        self.telemetry.forget_apps(set(policies) & set(apps))
        if not policies:
            return
        saved = self.store.list_autoscale_states()
        nodes = self.store.list_nodes()
        for gone in set(self._memory) - set(apps):
            self._memory.pop(gone, None)
            self._written.pop(gone, None)
        for name, policy in sorted(policies.items()):
            app = apps.get(name)
            if app is None:                       # stopped meanwhile: forget its policy
                self.store.put_autoscale(name, None)
                continue
            replicas = len(serving_nodes((n for n in nodes if n.pod == app.pod), name))   # warm ones aside
            kept = self._memory.get(name)
            memory = kept[1] if kept and kept[0] == app.created_revision else saved.get(name) or {}
            try:
                self.decide_one(app, policy, memory, replicas)
            except Exception as exc:  # noqa: BLE001 - one app's failure does not stop the others
                self.reporter.error("autoscale.error", f"app/{name}", f"autoscale {name}: {type(exc).__name__}: "
                                    f"{exc}", key="app", names=[name],
                                    exc=None if isinstance(exc, errors.SimpleCloudError) else exc)

    def decide_one(self, app: App, policy: Autoscale, saved: dict[str, Any], replicas: int) -> None:
        sample = self.sampler.window(app.name, self.settings.decision_interval, replicas)
        if sample is None:
            return                                # nothing sampled yet (the manager just started)
        now = self.clock()
        decision, state = autoscale.decide(policy, _state(saved), sample, replicas, now)
        if decision.changed:
            last = saved.get("last")
            decision = self.apply(app, decision, str(last.get("reason", "")) if isinstance(last, dict) else "")
        self.telemetry.autoscale_decision(app.name, decision.current, decision.replicas)
        state = autoscale.compacted(state)
        memory = {"state": state.to_dict(),
                  "last": {"time": now, "replicas": decision.replicas, "current": decision.current,
                           "reason": decision.reason, "metrics": decision.metrics}}
        self._memory[app.name] = (app.created_revision, memory)
        said = autoscale.news(state, decision.replicas, decision.current)
        written = self._written.get(app.name)
        if written and written[:2] == (app.created_revision, said) and now - written[2] < REFRESH:
            return                                # nothing new to remember: no write
        if self.store.put_autoscale_state(app.name, memory, created_revision=app.created_revision):
            self._written[app.name] = (app.created_revision, said, now)

    def apply(self, app: App, decision: autoscale.Decision, last_reason: str = "") -> autoscale.Decision:
        """Scale to the decision; if the pod is full, with a spare host added to
        it; else as far as the pod has room (and say so, once while it stays full)."""
        wanted = decision.replicas
        if self._scaled(app, wanted, f"{app.name}: {decision.reason}"):
            return decision
        pod = self._pod(app)
        self.wanting.add(pod.name)
        lent = self.spares.lend(pod, wanted - decision.current) if self.spares is not None else None
        if lent is not None:
            if self._scaled(app, wanted, f"{app.name}: {decision.reason}; pod {pod.name} grew by host {lent}"):
                return decision
            pod = self._pod(app)
        nodes = self.store.list_nodes(pod.name)
        hosts = {h.name: h for h in self.store.list_hosts()}
        pool = pool_of(pod, hosts, self.store.host_loads(), nodes,
                       set(unreachable_since(self.store.list_link_states())))
        warm = sum(1 for n in nodes if n.app == app.name and n.warm)      # promoted before any is added
        room = decision.current + warm + pool.free_nodes(node_size(pod))
        reason = (f"pod {pod.name} is full: {len(nodes)} nodes on {pool.describe()}; wanted {wanted} "
                  f"for {app.name} ({decision.reason})")
        if self.spares is not None and lent is None:
            reason += "; no spare host to add"
        if room > decision.current:
            reason += f"; scaled to {room}"
            self.scaler.scale_to(app, room, f"{app.name}: {reason}")    # the event with the change
        elif not last_reason.startswith(f"pod {pod.name} is full"):
            self._event(app, f"{app.name}: {reason}")
        return dataclasses.replace(decision, replicas=room, reason=reason)

    def _scaled(self, app: App, replicas: int, message: str) -> bool:
        """Scale ``app`` to ``replicas``, ``message`` its event (written with the
        change); False if its pod has no room."""
        try:
            self.scaler.scale_to(app, replicas, message)
        except errors.CapacityError:
            return False
        self.log.info(message)
        return True

    def _pod(self, app: App) -> Pod:
        pod = self.store.get_pod(app.pod)
        if pod is None:
            raise errors.NotFound(f"pod {app.pod!r} of app {app.name!r} is gone") from None
        return pod

    def _event(self, app: App, message: str) -> None:
        self.log.info(message)
        self.store.record_event("autoscale", f"app/{app.name}", message)


def _state(saved: dict) -> autoscale.State:
    """What was remembered of an app; a damaged memory starts afresh."""
    try:
        return autoscale.State.from_dict(saved.get("state") or {})
    except (ValueError, TypeError, AttributeError):
        return autoscale.State()
