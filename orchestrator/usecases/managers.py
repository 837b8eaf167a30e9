"""The managers: which one leads, which holds the entry point, how etcd is.

``me()`` is this manager's own answer (``GET /api/manager``); ``overview()``
(``GET /api/managers``, ``cloud manager ls``) puts together the leader key in
etcd (who acts, since when, with which epoch), what every manager says of
itself (edges/peers.py: reachable, holds the virtual IP), and each etcd
member's health (edges/store/members.py).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator import __version__
from orchestrator.core import errors
from orchestrator.edges.protocols import PeersProtocol, StoreProtocol


def _no_addresses() -> set[str]:
    return set()


class Managers:
    """``/api/manager`` and ``/api/managers``."""

    def __init__(self, store: StoreProtocol, me: str, *, vip: str = "", peers: PeersProtocol | None = None,
                 addresses: Callable[[], set[str]] = _no_addresses):
        """``me``: this manager's name; ``vip``: the entry point's virtual IP
        ("" if there is none); ``peers``: every manager's API (None: this one
        alone); ``addresses()``: this machine's own addresses (edges/local_net.py)."""
        self.store = store
        self.name = me
        self.vip = vip
        self.peers = peers
        self.addresses = addresses

    def me(self) -> dict[str, Any]:
        """This manager: its name, version, and whether it holds the virtual IP now."""
        return {"name": self.name, "version": __version__, "vip": self.vip or None,
                "holds_vip": bool(self.vip) and self.vip in self.addresses()}

    def overview(self) -> dict[str, Any]:
        """Every manager, the leader, the etcd members and who holds the virtual IP."""
        leader = self.store.get_leader()
        looks = self.peers.look_all() if self.peers is not None else {}
        if self.name not in looks:
            looks[self.name] = self.me()
        managers = []
        for name in sorted(looks):
            look = looks[name]
            managers.append({"name": name, "reachable": look is not None,
                             "leader": leader is not None and leader.get("name") == name,
                             "holds_vip": bool(look and look.get("holds_vip")),
                             "version": look.get("version") if look else None})
        holders = [m["name"] for m in managers if m["holds_vip"]]
        try:
            members, etcd_error = self.store.etcd_members(), None
        except errors.SimpleCloudError as exc:
            members, etcd_error = [], str(exc)
        return {"leader": leader, "managers": managers,
                "vip": {"address": self.vip or None, "holder": holders[0] if len(holders) == 1 else None,
                        "holders": holders},
                "etcd": {"members": members, "healthy": sum(1 for m in members if m.get("healthy")),
                         "error": etcd_error}}
