"""The names every layer agrees on: of worker containers, of HAProxy servers
and backends, the waker's server, and the key that reserves a route (pure)."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.core.model import App, Node, Pod


WAKER_SERVER = "waker"
"""The backup server of an app that scales to zero: the manager's waker
(control/waker.py), which holds a request while the first node starts, then
answers 503 so that HAProxy retries it on that node. It is written in
haproxy.cfg, never a node's server, and never counts as serving."""


def _name(x: str | Pod | Node | App) -> str:
    return x if isinstance(x, str) else x.name


CONTAINER_PREFIX = "sc-"


def container_name(pod: str | Pod, node: str | Node, gen: str) -> str:
    """Docker container name of one generation of a node: "sc-<pod>.<node>.<gen>".

    The dots make the name unambiguous (and so unique for each (pod, node,
    gen)) because none of the three parts may contain one: that is checked
    here, so the guarantee does not depend on the callers' validation. The
    generation lets the next version of a node start beside the current one
    during an update. ``parse_container_name`` is the inverse."""
    parts = {"pod": _name(pod), "node": _name(node), "generation": gen}
    for what, part in parts.items():
        if not part or "." in part:
            raise ValueError(f"{what} {part!r} cannot be part of a container name: "
                             f"it must be non-empty and contain no dot")
    return CONTAINER_PREFIX + ".".join(parts.values())


def parse_container_name(name: str) -> tuple[str, str, str]:
    """"sc-<pod>.<node>.<gen>" -> (pod, node, gen); ValueError if it is not one."""
    parts = name.removeprefix(CONTAINER_PREFIX).split(".") if name.startswith(CONTAINER_PREFIX) else []
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{name!r} is not a worker container name (sc-<pod>.<node>.<gen>)")
    return parts[0], parts[1], parts[2]


SERVER_ID_LEN = 10


def server_name(node: str | Node, container_id: str) -> str:
    """HAProxy server of one container of a node: "<node>.<first 10 of its id>".

    One server per container, not per node: a replacement's server goes in at
    once while the failed one's is still being drained and deleted."""
    return f"{_name(node)}.{container_id[:SERVER_ID_LEN]}"


def parse_server_name(name: str) -> tuple[str, str]:
    """"<node>.<id>" -> (node, id prefix); a name without a dot -> (name, "")."""
    node, _, cid = name.partition(".")
    return node, cid


def backend_name(app: str | App) -> str:
    """HAProxy backend of an app: "app_<app>"."""
    return f"app_{_name(app)}"


def route_key(app: App) -> str | None:
    """The store key that reserves ``app``'s route (its host and path, as
    ``validate.route_free`` compares them): "routes/<32 hex>", or None for an
    app without a route. Two apps with one route have one key, so a
    transaction that creates it where it must be absent lets one of them
    through (edges/store/routes.py)."""
    if not app.host and not app.path:
        return None
    text = f"{(app.host or '').lower()}\n{app.path or ''}"
    return "routes/" + hashlib.sha256(text.encode()).hexdigest()[:32]
