"""Node records: add, update, remove, each guarded by the pod's guard (etcd.py).

``add`` takes nodes already placed on the pod's hosts (``Node.host``; the use
cases choose with core/placement.py) and checks that they fit: the pod's own
limit per host and each host's capacity, shared with the other pods (its
load, ``hostload/<host>``: edges/store/hosts.py). It sends, in one
transaction: the pod guard and the loads of the hosts unchanged, the pod and
each node's app there, each new node's key absent; then every node, the new
count and the new loads. ``remove`` gives the nodes' room back to their hosts
the same way, (pools.py moves it from one host to another).

Big changes: etcd's transaction limit
-------------------------------------
etcd refuses a transaction with more than ``--max-txn-ops`` (default 128)
comparisons or writes. A change of more nodes than fit (``Etcd.max_txn_ops``)
is made in *batches*, each its own guarded, capacity-checked transaction, and
each a valid state on its own: the podcount always equals the node records, a
pod never holds more than max_nodes, an app created by ``add`` comes with the
first batch and one deleted by ``remove`` goes with the last. So a crash
between two batches leaves a smaller change (a scale to 126 of the 300 asked
for, a stop that removed some nodes), never a broken one; the same request
made again finishes it. If another request changes the pod between two
batches, a caller that passed ``expect_count`` gets ``StaleCount`` (with
``done``, the nodes already changed) and recomputes, as for a one-batch race.

``update`` (status changes such as launch/pause) is a compare-and-swap on
each node key's mod_revision that was read with the node (``Node.revision``),
so a status change based on a stale read is refused instead of overwriting a
newer one; more nodes than fit in one transaction are updated in batches.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from orchestrator.core.errors import (
    CapacityError,
    Conflict,
    NotFound,
    SimpleCloudError,
    StaleCount,
    ValidationError,
)
from orchestrator.core.model import App, Event, Node, Pod
from orchestrator.core.pools import added_load, node_size, pool_of, refusal
from orchestrator.edges.store import events, routes
from orchestrator.edges.store.desired import get_app, get_pod
from orchestrator.edges.store.etcd import RETRIES, Etcd, backoff, chunks, partial
from orchestrator.edges.store.hosts import list_hosts, load_pins, load_writes
from orchestrator.edges.store.keys import decode_node


def get_node(etcd: Etcd, pod: str, name: str) -> Node | None:
    return etcd.get(f"nodes/{pod}/{name}", decode_node)


def list_nodes(etcd: Etcd, pod: str | None = None) -> list[Node]:
    """Nodes of one pod (or of all pods), oldest first."""
    rel = f"nodes/{pod}/" if pod else "nodes/"
    return sorted(etcd.list(rel, decode_node), key=lambda n: (n.created, n.name))


def _stale(pod_name: str) -> StaleCount:
    return StaleCount(f"pod {pod_name!r} changed while this request ran; try again")


# ---------------------------------------------------------------- add

def add_nodes(etcd: Etcd, pod_name: str, nodes: Iterable[Node], create_app: App | None = None,
              expect_count: int | None = None, event: Event | None = None,
              update: Iterable[Node] = ()) -> list[Node]:
    """Add nodes, each placed on one of the pod's hosts, never beyond the pod's
    limit per host nor a host's capacity.

    With ``create_app``, the app record is created with the (first batch of)
    nodes (Conflict if it exists). Otherwise every node's app must exist and
    run in this pod. Raises NotFound (pod/app missing), Conflict (a node name
    is taken) or CapacityError (not enough room for ALL the nodes on their
    hosts, saying how full each host is: then nothing is written). Returns
    the nodes as stored.

    One transaction per ``max_txn_ops - 6 - apps - 3 × hosts`` nodes (module
    docstring); ``event`` is written with the first, as is ``create_app``'s
    route. A lost race is retried here, which is right for "add these
    nodes". A caller that computed the nodes from what it read (scale to N)
    passes ``expect_count``, the podcount it read *before* reading the nodes:
    if the pod changed since (or a host's load did), StaleCount is raised
    instead (with ``done``: the nodes added by earlier batches), and the
    caller recomputes. That makes "scale to N" exact under concurrency.

    ``update``: nodes of the pod read from the store (``revision``) whose
    changed records (a warm node promoted) are written with the first batch,
    each only if unchanged since read (else StaleCount with ``expect_count``).
    """
    nodes, update = list(nodes), _updates(update, pod_name)
    for n in nodes:
        if n.pod != pod_name:
            raise ValueError(f"node {n.name} belongs to pod {n.pod}, not {pod_name}")
        if not n.host:
            raise ValueError(f"node {n.name} has no host: place it first (core/placement.py)")
    if len({n.name for n in nodes}) != len(nodes):
        raise Conflict("the same node name appears twice in one request; use distinct names")
    apps = sorted({n.app for n in nodes} - ({create_app.name} if create_app else set()))
    hosts = {n.host for n in nodes}
    done: list[Node] = []
    for batch in chunks(nodes, etcd.batch_size(6 + len(apps) + 3 * len(hosts) + 2 * len(update))):
        try:
            count = _add_batch(etcd, pod_name, batch, apps, create_app if not done else None,
                               expect_count, remaining=nodes[len(done):], event=None if done else event,
                               update=[] if done else update)
        except SimpleCloudError as exc:
            raise partial(exc, done, len(nodes), "added") from None
        done += batch
        expect_count = None if expect_count is None else count
    stored = {n.name: n for n in list_nodes(etcd, pod_name)}
    return [stored.get(n.name, n) for n in nodes]


def _add_batch(etcd: Etcd, pod_name: str, batch: list[Node], apps: list[str], create_app: App | None,
               expect_count: int | None, remaining: list[Node], event: Event | None,
               update: list[Node]) -> int:
    """One guarded transaction of ``add_nodes``; returns the new podcount.
    ``remaining``: the nodes still to add in all (their room is checked for all)."""
    for attempt in range(RETRIES):
        pod, count, pin = _check_add(etcd, pod_name, apps, create_app, expect_count)
        in_pod = list_nodes(etcd, pod_name)             # read AFTER the guard
        taken = sorted({n.name for n in batch} & {n.name for n in in_pod})
        if taken and expect_count is not None and etcd.guard(pod_name)[0] != count:
            raise _stale(pod_name)
        if taken:
            raise Conflict(f"node {taken[0]!r} already exists in pod {pod_name!r}; choose another name")
        loads, load_pin = load_pins(etcd, {n.host for n in remaining})
        need = node_size(pod)
        why = refusal(pool_of(pod, {h.name: h for h in list_hosts(etcd)}, loads, in_pod),
                      Counter(n.host for n in remaining), need)
        if why:
            raise CapacityError(why)
        compare = [etcd.exists(f"pods/{pod_name}"), *pin, *load_pin]
        compare += [etcd.exists(f"hosts/{h}") for h in sorted({n.host for n in batch})]
        compare += [etcd.exists(f"apps/{a}") for a in apps]
        compare += [etcd.absent(f"nodes/{pod_name}/{n.name}") for n in batch]
        success = [etcd.put_op(f"nodes/{pod_name}/{n.name}", n.to_dict()) for n in batch]
        compare += [etcd.unchanged(f"nodes/{pod_name}/{n.name}", n.revision) for n in update]
        success += [etcd.put_op(f"nodes/{pod_name}/{n.name}", n.to_dict()) for n in update]
        success.append(etcd.write_guard(pod_name, count + len(batch)))
        success += load_writes(etcd, loads, added_load(batch, need))
        if create_app:
            route_compare, route_writes = routes.claim(etcd, create_app)
            compare += [etcd.absent(f"apps/{create_app.name}"), *route_compare]
            success += [etcd.put_op(f"apps/{create_app.name}", create_app.to_dict()), *route_writes]
        if etcd.txn(compare, success + events.ops(etcd, event)):
            if event:
                events.written(etcd, etcd.max_events)
            return count + len(batch)
        refused = routes.taken(etcd, create_app) if create_app else None
        if refused:
            raise refused
        if expect_count is not None:
            raise _stale(pod_name)
        backoff(attempt)
    raise Conflict(f"pod {pod_name!r} kept changing while nodes were added; try again")


def _check_add(etcd: Etcd, pod_name: str, apps: list[str], create_app: App | None,
               expect_count: int | None) -> tuple[Pod, int, list[Any]]:
    """Read and check what an added batch depends on: (pod, count, guard pin)."""
    pod = get_pod(etcd, pod_name)
    if pod is None:
        raise NotFound(f"pod {pod_name!r} does not exist; register it first "
                       f"(cloud pod register {pod_name} ...) or see: cloud pod ls")
    for name in apps:
        app = get_app(etcd, name)
        if app is None:
            raise NotFound(f"app {name!r} does not exist; deploy it first or name another app")
        if app.pod != pod_name:
            raise ValidationError("app", f"app {name!r} runs in pod {app.pod!r}, not {pod_name!r}")
    if create_app and get_app(etcd, create_app.name) is not None:
        raise Conflict(f"app {create_app.name!r} already exists; choose another name, "
                       f"or scale it (cloud app scale {create_app.name} N)")
    count, pin = etcd.guard(pod_name)
    if expect_count is not None and count != expect_count:
        raise _stale(pod_name)
    return pod, count, pin


# ---------------------------------------------------------------- update

def update_nodes(etcd: Etcd, nodes: Iterable[Node], event: Event | None = None) -> list[Node]:
    """Write changed node records, each only if unchanged since it was read.

    Each node's ``revision`` must be the mod_revision it was read at. If any
    record of a batch changed meanwhile, nothing of that batch is written and
    Conflict is raised (with ``done``: the nodes written by earlier batches),
    unless every record already holds exactly the requested values (a retried
    request), which counts as success. Up to ``max_txn_ops - 1`` nodes are
    written in one transaction; ``event`` with the last.
    """
    nodes = list(nodes)
    if any(n.revision <= 0 for n in nodes):
        raise ValueError("update_nodes needs nodes read from the store (revision > 0)")
    done: list[Node] = []
    batches = chunks(nodes, etcd.batch_size(1))
    for i, batch in enumerate(batches):
        try:
            done += _update_batch(etcd, batch, event if i == len(batches) - 1 else None)
        except SimpleCloudError as exc:
            raise partial(exc, done, len(nodes), "updated") from None
    return done


def _update_batch(etcd: Etcd, nodes: list[Node], event: Event | None) -> list[Node]:
    if not nodes:
        return []
    compare = [etcd.unchanged(f"nodes/{n.pod}/{n.name}", n.revision) for n in nodes]
    success = [etcd.put_op(f"nodes/{n.pod}/{n.name}", n.to_dict()) for n in nodes]
    ok = etcd.txn(compare, success + events.ops(etcd, event))
    if ok and event:
        events.written(etcd, etcd.max_events)
    current = _current(etcd, nodes)
    if ok or all(c is not None and c == n for c, n in zip(current, nodes)):
        return [c or n for c, n in zip(current, nodes)]
    missing = [n for n, c in zip(nodes, current) if c is None]
    if missing:
        raise NotFound(f"node {missing[0].name!r} no longer exists in pod {missing[0].pod!r}")
    raise Conflict("node(s) " + ", ".join(n.name for n in nodes)
                   + " changed while this request ran; look again and retry")


def _current(etcd: Etcd, nodes: list[Node]) -> list[Node | None]:
    """The stored version of each node (one read per pod)."""
    stored = {(n.pod, n.name): n for pod in {n.pod for n in nodes} for n in list_nodes(etcd, pod)}
    return [stored.get((n.pod, n.name)) for n in nodes]


# ---------------------------------------------------------------- remove

def remove_nodes(etcd: Etcd, pod_name: str, names: Iterable[str], delete_app: str | None = None,
                 expect_count: int | None = None, event: Event | None = None,
                 update: Iterable[Node] = ()) -> list[Node]:
    """Delete node records of one pod, decrement its podcount and give their
    room back to their hosts.

    With ``delete_app``, the app record is deleted with the (last batch of)
    nodes, and only if no other node of the app is left in the pod: if one
    was added meanwhile, StaleCount. Its route reservation, autoscale policy
    and the autoscaler's memory of it go in the same transaction (a later
    app of that name inherits none of them). NotFound if any named node is
    missing (then nothing is deleted). ``expect_count`` works as in
    add_nodes; more nodes than fit in one transaction are removed in
    batches; ``event`` is written with the last. ``update``: changed node
    records (serving nodes turned warm) written with the first batch, as in
    add_nodes.
    """
    names, update = list(dict.fromkeys(names)), _updates(update, pod_name)
    if not names and delete_app is None and not update:
        return []
    in_pod = {n.name: n for n in list_nodes(etcd, pod_name)}
    missing = sorted(set(names) - set(in_pod))
    if missing:
        raise NotFound(f"node {missing[0]!r} does not exist in pod {pod_name!r}; "
                       f"see the nodes with: cloud node ls {pod_name}")
    hosts = {in_pod[n].host for n in names}
    batches = chunks(names, etcd.batch_size(8 + 2 * len(hosts) + 2 * len(update)))
    done: list[Node] = []
    for i, batch in enumerate(batches):
        last = i == len(batches) - 1
        try:
            removed, count = _remove_batch(etcd, pod_name, batch, delete_app if last else None, expect_count,
                                           event if last else None, update if i == 0 else [])
        except SimpleCloudError as exc:
            raise partial(exc, done, len(names), "removed") from None
        done += removed
        expect_count = None if expect_count is None else count
    return done


def _remove_batch(etcd: Etcd, pod_name: str, names: list[str], delete_app: str | None,
                  expect_count: int | None, event: Event | None, update: list[Node]) -> tuple[list[Node], int]:
    """One guarded transaction of ``remove_nodes``: (removed nodes, new podcount)."""
    for attempt in range(RETRIES):
        count, pin = etcd.guard(pod_name)          # read the guard BEFORE the nodes
        if expect_count is not None and count != expect_count:
            raise _stale(pod_name)
        pod = get_pod(etcd, pod_name)
        in_pod = {n.name: n for n in list_nodes(etcd, pod_name)}
        found = [in_pod.get(name) for name in names]
        gone = [name for name, node in zip(names, found) if node is None]
        if gone:
            raise NotFound(f"node {gone[0]!r} does not exist in pod {pod_name!r}; "
                           f"see the nodes with: cloud node ls {pod_name}")
        nodes = [n for n in found if n is not None]
        given_back = added_load(nodes, node_size(pod), -1) if pod is not None else {}
        loads, load_pin = load_pins(etcd, given_back)
        compare = [*pin, *load_pin] + [etcd.unchanged(f"nodes/{pod_name}/{n.name}", n.revision) for n in nodes]
        success = [etcd.delete_op(f"nodes/{pod_name}/{n}") for n in names]
        compare += [etcd.unchanged(f"nodes/{pod_name}/{n.name}", n.revision) for n in update]
        success += [etcd.put_op(f"nodes/{pod_name}/{n.name}", n.to_dict()) for n in update]
        success.append(etcd.write_guard(pod_name, max(0, count - len(names))))
        success += load_writes(etcd, loads, given_back)
        if delete_app:
            _check_app_empties(delete_app, pod_name, in_pod, names)
            compare_app, delete = _app_goes(etcd, delete_app)
            compare += compare_app
            success += delete
        if etcd.txn(compare, success + events.ops(etcd, event)):
            if event:
                events.written(etcd, etcd.max_events)
            return nodes, max(0, count - len(names))
        if delete_app and get_app(etcd, delete_app) is None:
            raise NotFound(f"app {delete_app!r} does not exist (any more)")
        if expect_count is not None and (update or etcd.guard(pod_name)[0] != count):
            raise _stale(pod_name)
        backoff(attempt)
    raise Conflict(f"pod {pod_name!r} kept changing while nodes were removed; try again")


def _updates(nodes: Iterable[Node], pod_name: str) -> list[Node]:
    """Node records to rewrite with an add or a remove: read from the store, of this pod."""
    nodes = list(nodes)
    for n in nodes:
        if n.pod != pod_name or n.revision <= 0:
            raise ValueError(f"node {n.name} to update must be read from pod {pod_name} (revision > 0)")
    return nodes


def _app_goes(etcd: Etcd, name: str) -> tuple[list[Any], list[Any]]:
    """(comparisons, writes) that delete app ``name`` as read now, with its
    route reservation, its autoscale policy and the autoscaler's memory."""
    app = get_app(etcd, name)
    if app is None:
        raise NotFound(f"app {name!r} does not exist (any more)")
    route_compare, route_writes = routes.release(etcd, app)
    return ([etcd.unchanged(f"apps/{name}", app.revision), *route_compare],
            [etcd.delete_op(f"apps/{name}"), etcd.delete_op(f"autoscale/{name}"),
             etcd.delete_op(f"autoscale-state/{name}"), *route_writes])


def _check_app_empties(app: str, pod_name: str, in_pod: dict[str, Node], names: list[str]) -> None:
    """An app is deleted only with the last of its nodes (no node without its app)."""
    left = sorted(n.name for n in in_pod.values() if n.app == app and n.name not in names)
    if left:
        raise StaleCount(f"app {app!r} still has node(s) {', '.join(left[:5])} in pod "
                         f"{pod_name!r} (added meanwhile?); stop it again")
