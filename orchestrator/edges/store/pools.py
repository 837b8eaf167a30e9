"""The pools' own writes: nodes moved between hosts, hosts joining and leaving pods.

``move_nodes`` is what the placer (control/placer.py) writes: nodes on a new
host (``moved_from`` the old one) or marked pending, each compare-and-swapped
on its revision, their room moved from host to host under the host guards
(hosts.py) and the pod guard (etcd.py, written with its count unchanged, so
that every add, remove or move of the pod's nodes pins what the others read).

``set_pod_hosts`` changes the hosts of a pod (``cloud host add|rm``, the
autoscaler's spares) under the pod guard: a host leaves a pod only with none
of the pod's nodes on it, and never while a node is being placed on it.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from orchestrator.core.errors import CapacityError, Conflict, NotFound, SimpleCloudError, ValidationError
from orchestrator.core.model import Event, Node, Pod
from orchestrator.core.placement import Resources
from orchestrator.core.pools import added_load, node_size, pool_of, refusal
from orchestrator.edges.store import events
from orchestrator.edges.store.desired import get_pod
from orchestrator.edges.store.etcd import RETRIES, Etcd, Revision, backoff, chunks, partial
from orchestrator.edges.store.hosts import list_hosts, load_pins, load_writes
from orchestrator.edges.store.keys import decode_pod
from orchestrator.edges.store.nodes import list_nodes


def move_nodes(etcd: Etcd, pod_name: str, nodes: Iterable[Node], news: Sequence[Event] = ()) -> list[Node]:
    """Write nodes the placer moved (a new ``host``, ``moved_from``) or marked
    (``pending``), each only if unchanged since it was read (``revision``),
    moving their room from host to host under both guards: Conflict if one
    changed meanwhile (the placer reads again), CapacityError if a target host
    has no room any more (nothing of that batch is written). ``news``: the
    events that tell of it, written in the first batch's transaction."""
    nodes = list(nodes)
    if any(n.revision <= 0 or n.pod != pod_name for n in nodes):
        raise ValueError("move_nodes needs nodes of this pod read from the store (revision > 0)")
    hosts = {n.host for n in nodes} | {n.moved_from for n in nodes}
    done: list[Node] = []
    for batch in chunks(nodes, etcd.batch_size(4 + 3 * len(hosts) + len(news))):
        try:
            done += _move_batch(etcd, pod_name, batch, () if done else news)
        except SimpleCloudError as exc:
            raise partial(exc, done, len(nodes), "moved") from None
    return done


def _move_batch(etcd: Etcd, pod_name: str, batch: list[Node], news: Sequence[Event]) -> list[Node]:
    for attempt in range(RETRIES):
        pod = get_pod(etcd, pod_name)
        if pod is None:
            raise NotFound(f"pod {pod_name!r} does not exist (any more)")
        count, pin = etcd.guard(pod_name)
        in_pod = {n.name: n for n in list_nodes(etcd, pod_name)}
        before = [in_pod.get(n.name) for n in batch]
        if any(b is None for b in before):
            raise NotFound(f"node(s) of pod {pod_name!r} no longer exist; look again")
        if any(b is not None and b.revision != n.revision for b, n in zip(before, batch)):
            raise Conflict("node(s) " + ", ".join(n.name for n in batch) + " changed meanwhile; look again")
        need = node_size(pod)
        leaving = [b for b, n in zip(before, batch) if b is not None and b.host != n.host]
        coming = [n for b, n in zip(before, batch) if b is not None and b.host != n.host]
        change = added_load(coming, need)
        for host, less in added_load(leaving, need, -1).items():
            change[host] = change.get(host, Resources()) + less
        net = Counter(n.host for n in coming)
        net.subtract(Counter(b.host for b in leaving))
        loads, load_pin = load_pins(etcd, change)
        after = {**in_pod, **{n.name: n for n in batch}}
        why = refusal(pool_of(pod, {h.name: h for h in list_hosts(etcd)}, loads, in_pod.values()),
                      {h: k for h, k in net.items() if h}, need)
        if why:
            raise CapacityError(why)
        compare = [*pin, *load_pin, etcd.exists(f"pods/{pod_name}")]
        compare += [etcd.unchanged(f"nodes/{pod_name}/{n.name}", n.revision) for n in batch]
        compare += [etcd.exists(f"hosts/{h}") for h in sorted({n.host for n in coming})]
        success = [etcd.put_op(f"nodes/{pod_name}/{n.name}", n.to_dict()) for n in batch]
        success.append(etcd.write_guard(pod_name, count))
        success += load_writes(etcd, loads, change)
        if etcd.txn(compare, success + [op for e in news for op in events.ops(etcd, e)]):
            for _ in news:
                events.written(etcd, etcd.max_events)
            stored = {n.name: n for n in list_nodes(etcd, pod_name)}
            return [stored.get(n.name, after[n.name]) for n in batch]
        backoff(attempt)
    raise Conflict(f"pod {pod_name!r} kept changing while nodes were moved; try again")


def _pod_and_revision(data: Any, revision: Revision, rel_key: str) -> tuple[Pod, int]:
    return decode_pod(data, revision, rel_key), revision.mod


def set_pod_hosts(etcd: Etcd, name: str, hosts: Iterable[str], lent: Iterable[str],
                  undrain: str | None = None) -> Pod:
    """Give pod ``name`` these ``hosts`` (``lent``: those the autoscaler added).
    NotFound without the pod; ValidationError naming the known hosts for an
    unknown one; Conflict if a host that leaves still has nodes of the pod.
    ``undrain``: that host's ``draining`` flag is cleared in the same transaction."""
    hosts, lent = tuple(dict.fromkeys(hosts)), tuple(dict.fromkeys(lent))
    if not hosts:
        raise ValidationError("hosts", f"pod {name!r} needs at least one host")
    for attempt in range(RETRIES):
        found = etcd.get(f"pods/{name}", _pod_and_revision)
        if found is None:
            raise NotFound(f"pod {name!r} does not exist; see the pods with: cloud pod ls", "pod")
        pod, revision = found
        count, pin = etcd.guard(name)                  # read the guard BEFORE the nodes
        leaving = set(pod.hosts) - set(hosts)
        still = Counter(n.host for n in list_nodes(etcd, name) if n.host in leaving)
        for host, left in sorted(still.items()):
            raise Conflict(f"host {host} still has {left} node(s) of pod {name}; drain it first "
                           f"(cloud host drain {host})")
        known = {h.name: h for h in list_hosts(etcd)}
        unknown = [h for h in hosts if h not in known]
        if unknown:
            raise ValidationError("hosts", f"host {unknown[0]!r} is not known; the known hosts are "
                                           f"{', '.join(sorted(known)) or 'none'} (see: cloud host ls)")
        new = dataclasses.replace(pod, hosts=hosts, lent=tuple(h for h in lent if h in hosts))
        compare = [etcd.unchanged(f"pods/{name}", revision), *pin]
        compare += [etcd.exists(f"hosts/{h}") for h in hosts]
        success = [etcd.put_op(f"pods/{name}", new.to_dict()), etcd.write_guard(name, count)]
        if undrain is not None and undrain in known and known[undrain].draining:
            back = dataclasses.replace(known[undrain], draining=False)
            success.append(etcd.put_op(f"hosts/{undrain}", back.to_dict()))
        if etcd.txn(compare, success):
            return new
        backoff(attempt)
    raise Conflict(f"pod {name!r} kept changing while its hosts were changed; try again")
