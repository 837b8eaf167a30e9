"""Autoscale policies: set one on an app, or remove it.

The policy arrives parsed (api/apps.py: ``schema.Autoscale``, the one shape
it has from the API to the decision) and is stored as is; the autoscaler
(control/autoscaler.py) applies it at its next decision, within one decision
interval. What the API shows of a policy is ``core.views.autoscale_view``,
with the app (usecases/apps.py).
"""
from __future__ import annotations

from orchestrator.core import autoscale
from orchestrator.core.model import Event
from orchestrator.core.schema import Autoscale
from orchestrator.edges.protocols import StoreProtocol
from orchestrator.usecases.records import app_or_404


class Autoscaling:
    """``PUT`` and ``DELETE /api/apps/<app>/autoscale``: the policy is written,
    with its event, only while the app read is there (a stop meanwhile takes
    it along, so a later app of the same name does not inherit it)."""

    def __init__(self, store: StoreProtocol):
        self.store = store

    def set(self, name: str, policy: Autoscale) -> None:
        """Store ``policy`` as the app's (replacing any)."""
        app = app_or_404(self.store, name)
        self.store.put_autoscale(app.name, policy, created_revision=app.created_revision, event=Event.now(
            "autoscale.set", f"app/{app.name}", f"app {app.name} autoscales: {autoscale.summary(policy)}"))

    def remove(self, name: str) -> None:
        """Stop autoscaling the app; its replicas stay as they are."""
        app = app_or_404(self.store, name)
        if self.store.get_autoscale(app.name) is None:
            return
        self.store.put_autoscale(app.name, None, event=Event.now(
            "autoscale.off", f"app/{app.name}", f"app {app.name} no longer autoscales; its replicas stay as they are"))
