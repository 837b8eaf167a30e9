"""The HAProxy sync: keeps haproxy.cfg in line with the apps, and watches health checks.

Two jobs, one loop:

* **structure**: when the apps' routing fields (path, host, balance, health
  path, strip_path) differ from what the running haproxy.cfg was rendered
  from (``core.plan.config_drift``), render the file again and reload HAProxy
  hitlessly (``edges.haproxy.HAProxy.apply_config``), servers carried over.
  Then wake the host reconcilers: a new app's backend now exists, so its
  servers can be added.
* **health**: every ``health_poll_interval`` seconds read HAProxy's servers;
  when a health check result or an admin state changed, wake the host
  reconcilers at once, so a worker that went DOWN is replaced without waiting
  for the next periodic pass.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from orchestrator.control.reporting import Reporter
from orchestrator.core import errors
from orchestrator.core.haproxy_config import refused_apps
from orchestrator.core.plan import config_drift
from orchestrator.edges.haproxy import HAProxy
from orchestrator.edges.protocols import StoreProtocol
from orchestrator.settings import IntervalSettings


class HAProxySync:
    """One loop for HAProxy's structure and for health-check changes."""

    def __init__(self, store: StoreProtocol, haproxy: HAProxy, intervals: IntervalSettings,
                 wake_hosts: Callable[[], None] = lambda: None, log: logging.Logger | None = None):
        """``wake_hosts``: called when the reconcilers should look again (the
        controller sets it to its own)."""
        self.store = store
        self.haproxy = haproxy
        self.intervals = intervals
        self.wake_hosts = wake_hosts
        self.log = log or logging.getLogger("orchestrator.haproxy_sync")
        self.wake = threading.Event()
        self._health: frozenset | None = None
        self._refused: set[str] = set()
        self.reporter = Reporter(store, self.log)

    def sync_config(self) -> bool:
        """Re-render and reload if the apps' routes or the manager's HAProxy
        settings changed; True if it reloaded."""
        apps = self._renderable(self.store.list_apps())
        wake = self._wakeable()
        reason = config_drift(apps, self.haproxy.configured_apps(), wake) or self.haproxy.settings_drift()
        if not reason:
            return False
        try:
            self.haproxy.apply_config(apps, wake=wake)
        except errors.SimpleCloudError as exc:
            self._report(f"reload HAProxy config ({reason}) failed: {exc}")
            return False
        message = f"reload HAProxy config: {reason}"
        self.log.info(message)
        self._event("controller.reload_config", "haproxy", message)
        return True

    def _renderable(self, apps: list) -> list:
        """``apps`` without those haproxy.cfg cannot hold; each one refused is
        reported once (an event), and its route stays out of the config."""
        refused = refused_apps(apps)
        for name in sorted(set(refused) - self._refused):
            self.log.warning("app %s is left out of haproxy.cfg: %s", name, refused[name])
            self._event("app.refused", name, f"left out of haproxy.cfg: {refused[name]}; "
                        f"fix it with 'cloud app update' or remove it")
        self._refused = set(refused)
        return [app for app in apps if app.name not in refused]

    def _wakeable(self) -> frozenset[str]:
        """Apps that scale to zero: their first request is held by the waker."""
        return frozenset(app for app, policy in self.store.list_autoscale().items()
                         if policy.idle_to_zero_s is not None)

    def watch_health(self) -> bool:
        """Read the servers' health; True (and wake the hosts) if any changed."""
        servers = self.haproxy.show_servers()
        signature = frozenset((s.backend, s.name, s.admin, s.healthy) for s in servers)
        changed = self._health is not None and signature != self._health
        self._health = signature
        if changed:
            self.wake_hosts()
        return changed

    def run(self, stop: threading.Event) -> None:
        """Check the structure when woken (etcd changed) and every
        ``reconcile_interval`` s; the health every ``health_poll_interval`` s."""
        next_sync = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_sync:
                    next_sync = time.monotonic() + self.intervals.reconcile_interval
                    if self.sync_config():
                        self.wake_hosts()
                self.watch_health()
            except errors.SimpleCloudError as exc:
                self._report(f"HAProxy or etcd does not answer: {exc}")
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                self.reporter.error("controller.error", "haproxy",
                                    f"HAProxy sync pass failed: {type(exc).__name__}: {exc}", key="pass", exc=exc)
            self.reporter.tick()
            if self.wake.wait(self.intervals.health_poll_interval):
                next_sync = 0.0
            self.wake.clear()

    def _report(self, message: str) -> None:
        """A failure: one event per distinct error per window (control/reporting.py)."""
        self.reporter.error("controller.error", "haproxy", message)

    def _event(self, kind: str, subject: str, message: str) -> None:
        self.reporter.event(kind, subject, message)
