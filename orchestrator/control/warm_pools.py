"""The warm pools' refill, in the background (the leader only; issue 23).

A scale-out promotes warm nodes (one HAProxy state change each) and adds
serving nodes for the rest, but does not refill the pool it used
(core/scaling.py ``plan_scale``): the refill's container starts would queue
on the same hosts' engines as the new serving nodes and slow them down.
This loop refills it once the app's serving nodes all serve, or once it
has been short for ``patience`` seconds whatever they do
(``core.scaling.refill_due``), through the apps use case (``fill_pool``:
the same read-plan-write as a scale, with its guards), ``BATCH`` nodes at a
time, the next batch once the last one is warm: an app that has just
scaled out is busy, and 20 container starts at once on its hosts would
slow the nodes that serve it (measured: bench/README.md, pool_bench warm).
It wakes on a change of desired state (the controller) and every
``interval`` seconds.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from orchestrator.core import errors
from orchestrator.core.model import App
from orchestrator.core.scaling import pool_short, refill_due
from orchestrator.core.views import observed_of
from orchestrator.edges.protocols import StoreProtocol

PATIENCE = 10.0       # seconds an app's pool waits for its nodes to be ready before it is refilled anyway
BATCH = 4             # warm nodes a refill adds at a time


class PoolFiller(Protocol):
    """What refills a pool (``usecases.apps.Apps``)."""

    def fill_pool(self, app: App, at_most: int | None = None) -> int: ...


class WarmPools:
    """Refills every app's warm pool when it is due (see the module docstring)."""

    def __init__(self, store: StoreProtocol, filler: PoolFiller, interval: float, patience: float = PATIENCE,
                 batch: int = BATCH, log: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic):
        """``store``: the leader's (fenced) store; ``filler``: the apps use case
        over it; ``interval``: seconds between passes when nothing wakes it."""
        self.store = store
        self.filler = filler
        self.interval = interval
        self.patience = patience
        self.batch = batch
        self.log = log or logging.getLogger("orchestrator.warm_pools")
        self.clock = clock
        self.wake = threading.Event()
        self._short_since: dict[str, float] = {}      # app → when its pool was first seen short

    def run(self, stop: threading.Event) -> None:
        """Refill until ``stop`` (a term's end) is set."""
        while not stop.is_set():
            self.wake.clear()
            try:
                self.refill_once()
            except errors.NotLeader as exc:
                self.log.info("not the leader any more: %s", exc)
                return
            except errors.SimpleCloudError as exc:
                self.log.warning("warm pool pass failed: %s", exc)
            except Exception:  # noqa: BLE001 - the loop must survive anything (a bad record ...)
                self.log.exception("warm pool pass failed")
            self.wake.wait(self.interval)

    def refill_once(self) -> list[str]:
        """One pass; returns the apps whose pool it refilled."""
        apps = [a for a in self.store.list_apps() if a.warm > 0]
        if not apps:
            self._short_since.clear()
            return []
        nodes = self.store.list_nodes()
        observed = self.store.list_observed()
        now = self.clock()
        done = []
        for app in apps:
            mine = [n for n in nodes if n.app == app.name and n.pod == app.pod]
            short = pool_short(app, mine)
            if not short:
                self._short_since.pop(app.name, None)
                continue
            since = self._short_since.setdefault(app.name, now)
            phases = {n.name: (observed_of(n, observed) or {}).get("phase") for n in mine}
            if not refill_due(app, mine, phases, now - since, self.patience):
                continue
            try:
                added = self.filler.fill_pool(app, self.batch)
            except errors.NotLeader:
                raise
            except errors.SimpleCloudError as exc:       # stopped meanwhile, changed meanwhile: next pass
                self.log.info("warm pool of app %s not refilled: %s", app.name, exc)
                continue
            if added:                                    # none: its pod is full; the next pass tries again
                self.log.info("warm pool of app %s: %d of %d missing node(s) added", app.name, added, short)
                self._short_since[app.name] = now        # the next batch waits for this one (or the patience)
                done.append(app.name)
        return done
