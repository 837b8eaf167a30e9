"""Reads every use case makes: a named pod, app or host, or NotFound with the
message a user reads; the pool of a pod's hosts as placement sees it now."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from orchestrator.core.errors import NotFound
from orchestrator.core.model import App, Host, Node, Pod
from orchestrator.core.placement import Pool
from orchestrator.core.pools import pool_of, unreachable_since
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


def host_or_404(store: StoreProtocol, name: str) -> Host:
    host = store.get_host(name)
    if host is None:
        known = sorted(h.name for h in store.list_hosts())
        raise NotFound(f"host {name!r} is not known; the known hosts are {', '.join(known) or 'none'} "
                       f"(see: cloud host ls)", "host")
    return host


def pool_for(store: StoreProtocol, pod: Pod, nodes: Sequence[Node]) -> Pool:
    """The pool of ``pod`` now: its hosts' capacity and load, its ``nodes`` per
    host; new nodes go to hosts that answer (``links/``) and are not draining."""
    hosts = {h.name: h for h in store.list_hosts()}
    unusable = set(unreachable_since(store.list_link_states()))
    return pool_of(pod, hosts, store.host_loads(), nodes, unusable)


def joined(names: Iterable[str]) -> str:
    """Names for an event's message: "a, b" or "none"."""
    return ", ".join(names) or "none"
