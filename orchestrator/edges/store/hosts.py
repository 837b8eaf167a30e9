"""Hosts: their records, their load (the host guard) and their links' state.

``hosts/<host>`` is a host as the inventory describes it (``model.Host``:
capacity, address, subnet) plus the cluster's own ``draining`` flag. The
manager registers the hosts of its settings at start (``register_hosts``);
a record of a version before pools (a link state under ``hosts/``) is
replaced there, and skipped by every read until then.

The host guard
--------------
A host's capacity is shared by every pod on it, so every transaction that
adds, removes or moves nodes also pins ``hostload/<host>`` ({nodes, cpus,
memory_mb}: what the nodes placed on the host take, each its pod's node
size) at the mod revision it read and writes the new load, exactly like the
pod guard (etcd.py): two requests of two pods that both read the last free
slot of a host both compare the same revision, and only the first commits.
``load_pins`` reads the loads and their comparisons, ``load_writes`` the
writes of the new ones.

``links/<host>`` is the reachability of a host's link, written by the leader
when it changes (control/controller.py), read by placement and the views.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.core.errors import Conflict, NotFound
from orchestrator.core.model import Host, RecordError
from orchestrator.core.placement import Resources
from orchestrator.edges.store.etcd import RETRIES, Etcd, Revision, backoff
from orchestrator.edges.store.keys import decode_plain


def _decode_host(data: Any, revision: Revision, rel_key: str) -> tuple[Host | None, int]:
    """(the host, its mod revision); (None, revision) for a record of a version
    before pools (a link state), which register_hosts replaces."""
    if isinstance(data, dict) and "capacity" not in data and "reachable" in data:
        return None, revision.mod
    host = Host.from_dict(data)
    if rel_key != f"hosts/{host.name}":
        raise RecordError(f"the record belongs under hosts/{host.name}, not {rel_key}")
    return host, revision.mod


def get_host(etcd: Etcd, name: str) -> Host | None:
    found = etcd.get(f"hosts/{name}", _decode_host)
    return found[0] if found else None


def list_hosts(etcd: Etcd) -> list[Host]:
    return [h for h, _ in etcd.list("hosts/", _decode_host) if h is not None]


def register_hosts(etcd: Etcd, hosts: Iterable[Host]) -> list[str]:
    """Write each host that is missing (or a record from before pools), or
    whose capacity, address or subnet differ from ``hosts`` (the settings are
    the truth for those; ``draining`` stays the cluster's). Returns the names written."""
    written = []
    for host in hosts:
        for attempt in range(RETRIES):
            found = etcd.get(f"hosts/{host.name}", _decode_host)
            current, revision = found if found else (None, 0)
            wanted = host if current is None else dataclasses.replace(host, draining=current.draining)
            if current == wanted:
                break
            pin = etcd.unchanged(f"hosts/{host.name}", revision) if revision else etcd.absent(f"hosts/{host.name}")
            if etcd.txn([pin], [etcd.put_op(f"hosts/{host.name}", wanted.to_dict())]):
                written.append(host.name)
                break
            backoff(attempt)
    return written


def set_draining(etcd: Etcd, name: str, draining: bool) -> Host:
    """Set a host's ``draining`` flag (compare-and-swap on its record)."""
    for attempt in range(RETRIES):
        found = etcd.get(f"hosts/{name}", _decode_host)
        host, revision = found if found else (None, 0)
        if host is None:
            raise NotFound(f"host {name!r} is not known; see the hosts with: cloud host ls")
        if host.draining == draining:
            return host
        new = dataclasses.replace(host, draining=draining)
        if etcd.txn([etcd.unchanged(f"hosts/{name}", revision)], [etcd.put_op(f"hosts/{name}", new.to_dict())]):
            return new
        backoff(attempt)
    raise Conflict(f"host {name!r} kept changing; try again")


# ---------------------------------------------------------------- the host guard


def _decode_load(data: Any, revision: Revision, rel_key: str) -> tuple[str, Resources, int]:
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    nodes, cpus, memory = data.get("nodes"), data.get("cpus"), data.get("memory_mb")
    if not (isinstance(nodes, int) and isinstance(cpus, (int, float)) and isinstance(memory, int)):
        raise RecordError("a host load needs numbers nodes, cpus and memory_mb")
    return rel_key.split("/", 1)[1], Resources(nodes, float(cpus), memory), revision.mod


def host_loads(etcd: Etcd) -> dict[str, Resources]:
    """What the nodes placed on each host take (hosts with none are absent)."""
    return {name: load for name, load, _ in etcd.list("hostload/", _decode_load)}


def load_pins(etcd: Etcd, hosts: Iterable[str]) -> tuple[dict[str, Resources], list[Any]]:
    """The loads of ``hosts`` and the comparisons that pin each at the revision
    read (absent: zero, pinned as absent). One read of every load."""
    found = {name: (load, revision) for name, load, revision in etcd.list("hostload/", _decode_load)}
    loads, compare = {}, []
    for name in sorted(set(hosts)):
        load, revision = found.get(name, (Resources(), 0))
        loads[name] = load
        compare.append(etcd.unchanged(f"hostload/{name}", revision) if revision
                       else etcd.absent(f"hostload/{name}"))
    return loads, compare


def load_writes(etcd: Etcd, loads: Mapping[str, Resources], changes: Mapping[str, Resources]) -> list[Any]:
    """The writes of each changed host's new load (``loads`` + ``changes``)."""
    ops = []
    for name, change in sorted(changes.items()):
        new = loads.get(name, Resources()) + change
        new = Resources(max(0, new.nodes), max(0.0, round(new.cpus, 6)), max(0, new.memory_mb))
        ops.append(etcd.put_op(f"hostload/{name}", new.to_dict()))
    return ops


# ---------------------------------------------------------------- links


def put_link_state(etcd: Etcd, host: str, state: dict[str, Any]) -> None:
    etcd.put_json(f"links/{host}", state)


def list_link_states(etcd: Etcd) -> dict[str, dict[str, Any]]:
    """Reachability of every host the leader has a link to (damaged records skipped)."""
    return dict(etcd.list("links/", decode_plain))
