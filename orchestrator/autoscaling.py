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


def describe(data: dict) -> str:
    """A policy in a few words, e.g. "2..10, rps 20/node, idle → 0 after 300 s"."""
    parts = [f"{data['min']}..{data['max']}"]
    parts += [f"{m} {data[m]:g}{'' if m == 'p95_ms' else '/node'}" for m in autoscale.METRICS
              if data.get(m) is not None]
    parts += [f"rule {r['metric']} {r['comparator']} {r['threshold']:g} for {r['for_s']:g} s: "
              f"{r['step']:+d}" for r in data.get("rules", ())]
    if data.get("idle_to_zero_s") is not None:
        parts.append(f"idle → 0 after {data['idle_to_zero_s']:g} s")
    return ", ".join(parts)


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
        policy = spec.model_dump(exclude_none=True)
        self.store.put_autoscale(app, policy)
        self._event("autoscale.set", f"app/{app}", f"app {app} autoscales: {describe(policy)}")
        return policy

    def remove_policy(self, app_name: str) -> None:
        app = self._existing(app_name)
        if self.store.get_autoscale(app) is None:
            return
        self.store.put_autoscale(app, None)
        self._event("autoscale.off", f"app/{app}", f"app {app} no longer autoscales; "
                                                   f"its replicas stay as they are")

    def clamp(self, app: str, replicas: int) -> tuple[int, str]:
        """A manual scale of an autoscaled app, kept within [min, max]."""
        data = self.store.get_autoscale(app)
        if data is None:
            return replicas, ""
        wanted, note = autoscale.clamp_manual(autoscale.ScalePolicy.from_dict(data), replicas, app)
        return wanted, (f"{note} (cloud app autoscale {app} --off to scale by hand)" if note else "")

    def views(self) -> dict[str, dict]:
        """app → {"policy", "summary", "last"} for the API's app views."""
        states = self.store.list_autoscale_states()
        return {app: {"policy": policy, "summary": describe(policy),
                      "last": (states.get(app) or {}).get("last")}
                for app, policy in self.store.list_autoscale().items()}

    def _existing(self, app_name: str) -> str:
        name = validate.name(app_name, "name", "app name")
        if self.store.get_app(name) is None:
            raise NotFound(f"app {name!r} does not exist; see: cloud app ls")
        return name
