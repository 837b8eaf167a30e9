"""Route reservations: one key per route (``routes/<hash>``, core/naming.py
``route_key``), holding the name of the app that has it.

The key is created, where it must be absent, in the transaction that creates
the app (``desired.put_app``, ``nodes.add_nodes(create_app=...)``), moved in
the transaction that changes the app's route, and deleted in the one that
deletes the app. Two deploys with one path both send "the key is absent":
etcd applies one, and the other's transaction changes nothing; ``taken``
then says which app holds the route (409). An app written before these keys
existed has none: it is still seen by the use cases' check of the app list
(``validate.route_free``), and claims its key at its next route change.
"""
from __future__ import annotations

import json
from typing import Any

from orchestrator.core.errors import Conflict
from orchestrator.core.model import App
from orchestrator.core.naming import route_key
from orchestrator.edges.store.etcd import Etcd

Ops = tuple[list[Any], list[Any]]
"""(comparisons, writes) for a transaction."""


def claim(etcd: Etcd, app: App) -> Ops:
    """Reserve ``app``'s route: the key is absent, then holds the app's name."""
    key = route_key(app)
    if key is None:
        return [], []
    return [etcd.absent(key)], [etcd.put_op(key, _record(app))]


def release(etcd: Etcd, app: App) -> Ops:
    """Give up ``app``'s route, if its key holds this app (an older app has none)."""
    key = route_key(app)
    if key is None:
        return [], []
    kv = etcd.get_raw(key)
    if kv is None or _holder(kv.value) != app.name:
        return [], []
    return [etcd.unchanged(key, kv.mod_revision)], [etcd.delete_op(key)]


def move(etcd: Etcd, old: App, new: App) -> Ops:
    """From ``old``'s route to ``new``'s (the same app, changed)."""
    if route_key(old) == route_key(new):
        key = route_key(new)
        if key is None:
            return [], []
        kv = etcd.get_raw(key)                     # an older app claims its key now
        return ([], []) if kv is not None else claim(etcd, new)
    compare, success = claim(etcd, new)
    gone_compare, gone = release(etcd, old)
    return compare + gone_compare, success + gone


def taken(etcd: Etcd, app: App) -> Conflict | None:
    """The refusal to give when another app holds ``app``'s route, else None."""
    key = route_key(app)
    kv = etcd.get_raw(key) if key else None
    holder = _holder(kv.value) if kv is not None else None
    if holder is None or holder == app.name:
        return None
    if app.path:
        return Conflict(f"path {app.path!r} is already the route of app {holder!r}; choose another path", "path")
    return Conflict(f"host {app.host!r} is already the route of app {holder!r}; choose another host", "host")


def _record(app: App) -> dict[str, Any]:
    return {"app": app.name, "host": app.host, "path": app.path}


def _holder(raw: bytes) -> str | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data.get("app") if isinstance(data, dict) and isinstance(data.get("app"), str) else None
