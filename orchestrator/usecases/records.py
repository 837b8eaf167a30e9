"""Reads every use case makes: a named pod or app, or NotFound with the message a user reads."""
from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core.errors import NotFound
from orchestrator.core.model import App, Pod
from orchestrator.edges.protocols import StoreProtocol

RETRIES = 10          # recomputations when a concurrent request changed the same pod (StaleCount)


def pod_or_404(store: StoreProtocol, name: str, field: str | None = "pod") -> Pod:
    pod = store.get_pod(name)
    if pod is None:
        raise NotFound(f"pod {name!r} does not exist; see the pods with: cloud pod ls", field)
    return pod


def app_or_404(store: StoreProtocol, name: str) -> App:
    app = store.get_app(name)
    if app is None:
        raise NotFound(f"app {name!r} does not exist; see the apps with: cloud app ls")
    return app


def joined(names: Iterable[str]) -> str:
    """Names for an event's message: "a, b" or "none"."""
    return ", ".join(names) or "none"
