"""Use cases of autoscaling: set or remove an app's policy, and what the API
shows of it. The decisions themselves are pure (core/autoscale.py) and the
loop that samples, decides and scales runs in the manager
(control/autoscaler.py).

A policy is stored as the API's JSON form under ``autoscale/<app>``; what
the autoscaler remembers of an app (its stabilization windows, cooldowns and
last decision) under ``autoscale-state/<app>``.
"""
from __future__ import annotations

from orchestrator.core import autoscale, schema, validate
from orchestrator.core.errors import Conflict, NotFound


class Autoscaling:
    """Setting and removing policies; part of the Service (``service.autoscaling``)."""

    def __init__(self, store, record_event):
        self.store = store
        self._event = record_event

    def set_policy(self, app_name: str, body) -> dict:
        """Validate and store ``body`` as the app's policy; the autoscaler applies
        it at its next decision (within one decision interval)."""
        app = self._existing(app_name)
        spec = validate.parse(schema.Autoscale, body, "the autoscale policy")
        if spec.min > spec.max:     # well formed, but the two clash (JSON Schema cannot say it): 409
            raise Conflict(f"min {spec.min} is more than max {spec.max}; give min ≤ max")
        self.store.put_autoscale(app, spec)
        self._event("autoscale.set", f"app/{app}", f"app {app} autoscales: {autoscale.summary(spec)}")
        return spec.model_dump(exclude_none=True)

    def remove_policy(self, app_name: str) -> None:
        app = self._existing(app_name)
        if self.store.get_autoscale(app) is None:
            return
        self.store.put_autoscale(app, None)
        self._event("autoscale.off", f"app/{app}", f"app {app} no longer autoscales; "
                                                   f"its replicas stay as they are")

    def clamp(self, app: str, replicas: int) -> tuple[int, str]:
        """A manual scale of an autoscaled app, kept within [min, max]."""
        policy = self.store.get_autoscale(app)
        if policy is None:
            return replicas, ""
        wanted, note = autoscale.clamp_manual(policy, replicas, app)
        return wanted, (f"{note} (cloud app autoscale {app} --off to scale by hand)" if note else "")

    def views(self) -> dict[str, dict]:
        """app → {"policy", "summary", "last"} for the API's app views."""
        states = self.store.list_autoscale_states()
        return {app: {"policy": policy.model_dump(exclude_none=True), "summary": autoscale.summary(policy),
                      "last": (states.get(app) or {}).get("last")}
                for app, policy in self.store.list_autoscale().items()}

    def _existing(self, app_name: str) -> str:
        name = validate.name(app_name, "name", "app name")
        if self.store.get_app(name) is None:
            raise NotFound(f"app {name!r} does not exist; see: cloud app ls")
        return name
