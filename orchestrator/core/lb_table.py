"""The load balancer's server table, shared by every manager (pure).

Every manager runs HAProxy and serves every app. The leader's reconcilers
change *its* HAProxy's servers (add, drain, delete) as they start and retire
workers, and publish each backend's server table to etcd (``lb/<backend>``)
after every change. Every other manager *mirrors* that table into its own
HAProxy: ``mirror_steps`` compares the published table with what its HAProxy
has and returns the steps that close the gap, the same steps the reconcilers
use (core/steps.py), so one executor runs both.

Health is each HAProxy's own: a mirrored server is added down and takes
requests once *that* HAProxy's check passes. A server the leader drains is
set to drain and then maintenance here too before it is deleted, so requests
in flight on a follower finish as they do on the leader.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.core.model import Server
from orchestrator.core.naming import parse_server_name
from orchestrator.core.steps import Action, AddServer, DelServer, SetServerState


@dataclass(frozen=True)
class Entry:
    """One server of a backend as the leader has it."""

    name: str             # <node>.<container id prefix>
    addr: str
    port: int
    admin: str            # ready | drain | maint

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "addr": self.addr, "port": self.port, "admin": self.admin}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(str(data["name"]), str(data["addr"]), int(data["port"]), str(data["admin"]))


def table(servers: Iterable[Server], backends: Iterable[str] | None = None) -> dict[str, list[Entry]]:
    """The app backends' servers (sorted by name) as a publishable table;
    ``backends``: those to include even when they have no server (None: only
    those that have one)."""
    out: dict[str, list[Entry]] = {b: [] for b in (backends or ()) if b.startswith("app_")}
    for s in servers:
        if s.backend.startswith("app_"):
            out.setdefault(s.backend, []).append(Entry(s.name, s.addr, s.port, s.admin))
    return {b: sorted(entries, key=lambda e: e.name) for b, entries in sorted(out.items())}


def encode(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    return [e.to_dict() for e in entries]


def decode(data: Any) -> list[Entry]:
    """A published backend table; ValueError if it is not one."""
    if not isinstance(data, list):
        raise ValueError(f"expected a list of servers, got {type(data).__name__}")
    try:
        return [Entry.from_dict(d) for d in data]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a server entry is incomplete: {exc}") from exc


def mirror_steps(published: Mapping[str, list[Entry]], servers: Iterable[Server],
                 backends: Iterable[str]) -> dict[str, list[Action]]:
    """Chains (key → steps) that make this HAProxy's servers match the
    published table. Only backends this HAProxy has are touched (its config
    may lag the leader's by one reload); a backend missing from the table is
    left alone (nothing was published for it yet)."""
    have_backends = set(backends)
    mine: dict[str, dict[str, Server]] = {}
    for s in servers:
        if s.backend.startswith("app_"):
            mine.setdefault(s.backend, {})[s.name] = s
    chains: dict[str, list[Action]] = {}
    for backend, entries in sorted(published.items()):
        if backend not in have_backends:
            continue
        here = mine.get(backend, {})
        wanted = {e.name: e for e in entries}
        for name in sorted(set(here) - set(wanted)):
            chains[f"{backend}/{name}"] = [DelServer(backend, name)]
        for name, e in sorted(wanted.items()):
            steps = _server_steps(backend, e, here.get(name))
            if steps:
                chains[f"{backend}/{name}"] = steps
    return chains


def _server_steps(backend: str, e: Entry, s: Server | None) -> list[Action]:
    node, cid = parse_server_name(e.name)
    add = AddServer(backend, node, "", e.port, e.admin, addr=e.addr, cid=cid)
    if s is None:
        return [add]
    if not s.checks or (s.addr, s.port) != (e.addr, e.port):
        return [DelServer(backend, e.name), add]
    if s.admin == e.admin:
        return []
    if e.admin == "maint" and s.admin == "ready":
        return [SetServerState(backend, e.name, "drain"), SetServerState(backend, e.name, "maint")]
    return [SetServerState(backend, e.name, e.admin)]
