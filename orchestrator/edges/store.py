"""Store: the cluster's desired state, observed state and events in etcd.

Key layout (relative to the configurable prefix, default "/simplecloud/"),
as in docs/orchestrator.md:

    pods/<pod>              Pod JSON
    apps/<app>              App JSON
    nodes/<pod>/<node>      Node JSON
    podcount/<pod>          number of node records in the pod (decimal text);
                            also the pod's *guard*: see below
    events/<ns>-<seq>       Event JSON; keys sort by time
    observed/<pod>/<node>   what the controller last saw of a node, and its
                            healing record (core/observed.py, core/healing.py)
    hosts/<host>            reachability of a pod host's link (controller)

Why two concurrent requests cannot both take the last free node
----------------------------------------------------------------
Every change of what lives in a pod (its nodes, and its apps) is an etcd
transaction (`Txn`) that writes `podcount/<pod>`, the pod's *guard*: a list
of comparisons, then writes that etcd applies only if *all* comparisons hold,
atomically, at a single revision. `add_nodes` reads the guard (count 19 of
20, written at revision R), checks capacity in Python, then sends:

    IF   podcount/<pod> was last written at R  (or is absent, if it was absent)
    AND  nodes/<pod>/<each new name> does not exist
    AND  pods/<pod> exists, and each node's app exists
    THEN put every node, put podcount/<pod> = "20"

Two requests that both read revision R both send that comparison. etcd
serialises transactions, so the first one commits and writes the guard again;
the second one's comparison is now false and nothing of it is written. The
loser re-reads (podcount "20"), sees the pod is full and raises CapacityError.
The guard is compared by its *revision*, not its value, so "one node added,
another removed" in between is seen too.

The same guard makes the other pod-level promises:

- a pod is deleted only if its guard is unchanged since the pod was seen
  without nodes and without apps (creating an app in a pod writes the guard:
  `put_app`, `add_nodes(create_app=...)`), so no app or node is ever left in
  a deleted pod;
- an app is deleted only if its pod's guard is unchanged since the app was
  seen without nodes (adding a node writes the guard), so no node is ever
  left without its app.

This is optimistic concurrency: no locks, no leases, and a crash between read
and write leaves nothing half-written.

Big changes: etcd's transaction limit
-------------------------------------
etcd refuses a transaction with more than `--max-txn-ops` (default 128)
comparisons or writes. A change of more nodes than fit (`MAX_TXN_OPS`, the
class setting `Store.max_txn_ops`) is made in *batches*, each its own
guarded, capacity-checked transaction as above, and each a valid state on
its own: the podcount always equals the node records, a pod never holds more
than max_nodes, an app created by `add_nodes` comes with the first batch
and one deleted by `remove_nodes` goes with the last. So a crash between two
batches leaves a smaller change (a scale to 126 of the 300 asked for, a stop
that removed some nodes), never a broken one; the same request made again
finishes it. If another request changes the pod between two batches, a
caller that passed `expect_count` gets `StaleCount` (with `done`, the nodes
already changed) and recomputes, as for a one-batch race.

`update_node(s)` (status changes such as launch/pause) is a compare-and-swap
on each node key's mod_revision that was read with the node (`Node.revision`),
so a status change based on a stale read is refused instead of overwriting a
newer one; more nodes than fit in one transaction are updated in batches.

Damaged records
---------------
A record that is not JSON or does not fit the model (a missing field, a wrong
type; see `model.RecordError`) is skipped by every list call, logged and
reported once as an event (`store.corrupt`, naming the key and why); a read
of that one record (`get_pod`, ...) raises `CorruptRecord` (409). One bad
record therefore never fails a list, the API or a reconcile pass.

Reads return model objects or None (absence is not an error here); the
service layer turns None into NotFound with a message for the user.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence

import etcd3
import grpc
from etcd3 import etcdrpc
from etcd3.exceptions import Etcd3Exception

from orchestrator.core import validate
from orchestrator.core.errors import Conflict, NotFound, SimpleCloudError, Unavailable, ValidationError
from orchestrator.core.model import App, Event, Node, Pod, RecordError
from orchestrator.core.observed import check_record
from orchestrator.settings import EtcdSettings

log = logging.getLogger(__name__)


class StaleCount(Conflict):
    """The pod's node count is not the one the caller expected (see `expect_count`).

    `done`: the nodes this call had already changed in earlier batches (a
    change too big for one transaction), so the caller can recompute the rest."""

    done: list = []


class CorruptRecord(Conflict):
    """One record in etcd is damaged (not JSON, or does not fit the model)."""


class TooLarge(ValidationError):
    """etcd refused a request as too large (too many operations or bytes)."""

    def __init__(self, message: str):
        super().__init__(None, message)


RETRIES = 25                    # attempts of an optimistic transaction before giving up
MAX_EVENTS = 1000               # events kept; older ones are trimmed
MAX_TXN_OPS = 128               # etcd's --max-txn-ops (its default): compares, or writes, per Txn
DESIRED_KINDS = ("pods/", "apps/", "nodes/")   # writes that wake the controller
TOO_LARGE = ("too many operations", "request is too large", "larger than max")
"""Words of etcd's/gRPC's refusals of an oversized request (InvalidArgument,
ResourceExhausted): a request error, not an unreachable etcd."""


def _prefix_end(prefix: bytes) -> bytes:
    """The range end that makes [prefix, end) cover every key starting with prefix."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))


def _chunks(items: Sequence, size: int) -> list[list]:
    """``items`` in lists of at most ``size``; one empty list if there are none."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)] or [[]]


def _partial(exc: SimpleCloudError, done: list, total: int, verb: str) -> SimpleCloudError:
    """Say in ``exc`` that a batched change stopped half-way, and what was done."""
    if done:
        exc.message += f" ({len(done)} of the {total} nodes were {verb} before this)"
        exc.args = (exc.message,)
    exc.done = list(done)
    return exc


class Store:
    """Desired state, observed state and events of one cluster, in etcd."""

    max_txn_ops = MAX_TXN_OPS
    """Operations per transaction; set it to etcd's --max-txn-ops if that is lower."""

    def __init__(self, host: str = "127.0.0.1", port: int = 2379,
                 prefix: str = "/simplecloud/", timeout: float = 10.0,
                 max_events: int = MAX_EVENTS, tls: tuple[str, str, str] | None = None):
        """``tls`` = (CA file, client certificate file, client key file), or None for plain HTTP."""
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.max_events = max_events
        self._timeout = timeout
        ca, cert, key = tls or (None, None, None)
        self._client = etcd3.client(host=host, port=port, timeout=timeout,
                                    ca_cert=ca, cert_cert=cert, cert_key=key)
        self._kv = etcdrpc.KVStub(self._client.channel)
        self._watch = etcdrpc.WatchStub(self._client.channel)
        self._tx = self._client.transactions
        self._seq = itertools.count()
        self._watch_lock = threading.Lock()
        # Revision up to which wait_for_change has reported changes; starts at
        # "now" so a change made during the first reconcile pass still wakes.
        self._seen_revision = self._range("pods/", count_only=True).header.revision

    @classmethod
    def from_settings(cls, settings: EtcdSettings) -> Store:
        """A Store for the etcd group of the settings."""
        return cls(settings.etcd_host, settings.etcd_port, settings.etcd_prefix, tls=settings.tls())

    def close(self) -> None:
        """Close the gRPC channel. The Store must not be used afterwards."""
        self._client.close()

    # ---------------------------------------------------------------- low level

    def _key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def _call(self, fn: Callable, *args, **kwargs):
        """Run an etcd call, turning failures into SimpleCloudErrors: TooLarge
        (400) for a request etcd finds too big, else Unavailable (503)."""
        try:
            return fn(*args, **kwargs)
        except grpc.RpcError as exc:
            details = exc.details() or ""
            if any(words in details for words in TOO_LARGE):
                raise TooLarge(f"etcd refused the change as too large ({details}); make it in "
                               f"smaller steps, or raise etcd's limits (--max-txn-ops, "
                               f"--max-request-bytes) and Store.max_txn_ops") from exc
            raise Unavailable(f"etcd is not reachable ({exc.code().name}); "
                              f"check that etcd runs and the settings etcd_host/etcd_port") from exc
        except Etcd3Exception as exc:
            raise Unavailable(f"etcd is not reachable ({type(exc).__name__}); "
                              f"check that etcd runs and the settings etcd_host/etcd_port") from exc

    def _range(self, rel_prefix: str, *, limit: int = 0, descend: bool = False,
               keys_only: bool = False, count_only: bool = False):
        """One Range request over every key under prefix+rel_prefix, sorted by key."""
        key = self._key(rel_prefix).encode()
        request = etcdrpc.RangeRequest(
            key=key, range_end=_prefix_end(key), limit=limit,
            sort_order=etcdrpc.RangeRequest.DESCEND if descend else etcdrpc.RangeRequest.ASCEND,
            sort_target=etcdrpc.RangeRequest.KEY, keys_only=keys_only, count_only=count_only)
        return self._call(self._kv.Range, request, self._timeout)

    def _get(self, rel_key: str, decode: Callable):
        """One record decoded by ``decode(data, mod_revision, rel_key)``, or None
        if absent. CorruptRecord (reported once) if it does not decode."""
        value, meta = self._call(self._client.get, self._key(rel_key))
        if value is None:
            return None
        record = self._decode(rel_key, value, meta.mod_revision, decode)
        if record is None:
            raise CorruptRecord(f"the record {rel_key} in etcd is damaged (see the store.corrupt "
                                f"event); fix or delete it: etcdctl del {self._key(rel_key)}")
        return record

    def _list(self, rel_prefix: str, decode: Callable, **range_args) -> list:
        """Every record under a prefix that decodes; damaged ones are skipped and reported."""
        out = []
        for kv in self._range(rel_prefix, **range_args).kvs:
            rel_key = kv.key.decode(errors="replace")[len(self.prefix):]
            record = self._decode(rel_key, kv.value, kv.mod_revision, decode)
            if record is not None:
                out.append(record)
        return out

    def _decode(self, rel_key: str, raw: bytes, revision: int, decode: Callable):
        """``decode(json, revision, rel_key)``, or None after reporting a damaged record."""
        try:
            return decode(json.loads(raw), revision, rel_key)
        except (ValueError, TypeError, KeyError) as exc:    # JSON, RecordError, enum values
            self._report_corrupt(rel_key, revision, exc)
            return None

    def _report_corrupt(self, rel_key: str, revision: int, exc: Exception) -> None:
        """Log and record one event per damaged record version (per Store)."""
        reported = self.__dict__.setdefault("_corrupt_reported", set())
        if (rel_key, revision) in reported:
            return
        reported.add((rel_key, revision))
        why = str(exc) if isinstance(exc, RecordError) else f"{type(exc).__name__}: {exc}"
        message = (f"record {rel_key} in etcd is damaged ({why}); it is skipped until it is "
                   f"fixed or deleted (etcdctl del {self._key(rel_key)})")
        log.warning(message)
        try:
            self.record_event("store.corrupt", rel_key, message)
        except SimpleCloudError as err:
            log.warning("cannot record the store.corrupt event: %s", err)

    def _txn(self, compare: list, success: list) -> bool:
        ok, _ = self._call(self._client.transaction, compare=compare, success=success, failure=[])
        return ok

    def _put(self, rel_key: str, data: dict):
        return self._tx.put(self._key(rel_key), json.dumps(data, sort_keys=True))

    def _guard(self, pod: str) -> tuple[int, list]:
        """A pod's node count, and the comparison that pins its guard key
        (``podcount/<pod>``) at the revision just read (see the module docstring)."""
        key = self._key("podcount", pod)
        value, meta = self._call(self._client.get, key)
        if value is None:
            return 0, [self._tx.version(key) == 0]
        try:
            count = int(value)
        except ValueError:
            self._report_corrupt(f"podcount/{pod}", meta.mod_revision, RecordError(f"{value!r} is no number"))
            raise CorruptRecord(f"the node count podcount/{pod} in etcd is damaged; "
                                f"set it to the number of nodes of pod {pod!r}") from None
        return count, [self._tx.mod(key) == meta.mod_revision]

    def _write_guard(self, pod: str, count: int):
        return self._tx.put(self._key("podcount", pod), str(count))

    def _batch(self, fixed: int) -> int:
        """Items per transaction when each item takes one comparison and one
        write, besides ``fixed`` others."""
        size = self.max_txn_ops - fixed
        if size < 1:
            raise TooLarge(f"this change needs {fixed} operations besides its nodes, more than "
                           f"one etcd transaction takes ({self.max_txn_ops}); split it up")
        return size

    # ---------------------------------------------------------------- pods

    def get_pod(self, name: str) -> Pod | None:
        return self._get(f"pods/{name}", _decoder(Pod, "pods"))

    def list_pods(self) -> list[Pod]:
        return self._list("pods/", _decoder(Pod, "pods"))

    def put_pod(self, pod: Pod, create: bool) -> Pod:
        """Create (Conflict if the name is taken) or update (NotFound if absent) a pod."""
        version = self._tx.version(self._key("pods", pod.name))
        if not self._txn([version == 0 if create else version > 0],
                         [self._put(f"pods/{pod.name}", pod.to_dict())]):
            if create:
                raise Conflict(f"pod {pod.name!r} already exists; choose another name "
                               f"or remove it first (cloud pod rm {pod.name})")
            raise NotFound(f"pod {pod.name!r} does not exist; register it first")
        return pod

    def pod_node_count(self, name: str) -> int:
        return self._guard(name)[0]

    def delete_pod(self, name: str) -> Pod:
        """Delete a pod that has no nodes and no apps.
        Conflict if it still has some, NotFound if absent."""
        for attempt in range(RETRIES):
            pod = self.get_pod(name)
            if pod is None:
                raise NotFound(f"pod {name!r} does not exist; see the pods with: cloud pod ls")
            count, pin = self._guard(name)          # read the guard BEFORE the apps
            if count:
                raise Conflict(f"pod {name!r} still has {count} node(s); remove them first "
                               f"(cloud rm NODE {name}, or stop their app)")
            apps = [a.name for a in self.list_apps() if a.pod == name]
            if apps:
                raise Conflict(f"pod {name!r} is used by app(s) {', '.join(apps)}; stop them first "
                               f"(cloud app stop {apps[0]})")
            ok = self._txn([self._tx.version(self._key("pods", name)) > 0, *pin],
                           [self._tx.delete(self._key("pods", name)),
                            self._tx.delete(self._key("podcount", name))])
            if ok:
                return pod
            _backoff(attempt)
        raise Conflict(f"pod {name!r} kept changing while it was being removed; try again")

    # ---------------------------------------------------------------- apps

    def get_app(self, name: str) -> App | None:
        return self._get(f"apps/{name}", _decoder(App, "apps"))

    def list_apps(self) -> list[App]:
        return self._list("apps/", _decoder(App, "apps"))

    def put_app(self, app: App, create: bool) -> App:
        """Create (Conflict if the name is taken, NotFound if its pod is not
        there) or update (NotFound if absent) an app. A new app writes its
        pod's guard, so it cannot land in a pod being deleted."""
        key = self._key("apps", app.name)
        if not create:
            if not self._txn([self._tx.version(key) > 0], [self._put(f"apps/{app.name}", app.to_dict())]):
                raise NotFound(f"app {app.name!r} does not exist; deploy it first")
            return app
        for attempt in range(RETRIES):
            count, pin = self._guard(app.pod)
            if self._txn([self._tx.version(key) == 0, self._tx.version(self._key("pods", app.pod)) > 0, *pin],
                         [self._put(f"apps/{app.name}", app.to_dict()), self._write_guard(app.pod, count)]):
                return app
            if self.get_app(app.name) is not None:
                raise Conflict(f"app {app.name!r} already exists; choose another name, "
                               f"or scale it (cloud app scale {app.name} N)")
            if self.get_pod(app.pod) is None:
                raise NotFound(f"pod {app.pod!r} does not exist; register it first", "pod")
            _backoff(attempt)
        raise Conflict(f"pod {app.pod!r} kept changing while app {app.name!r} was created; try again")

    def delete_app(self, name: str) -> App:
        """Delete an app that has no nodes (Conflict if it has, NotFound if absent).
        To stop an app with its nodes, see remove_nodes(delete_app=...)."""
        app = self.get_app(name)
        if app is None:
            raise NotFound(f"app {name!r} does not exist; see the apps with: cloud app ls")
        self.remove_nodes(app.pod, [], delete_app=name)
        return app

    # ---------------------------------------------------------------- nodes

    def get_node(self, pod: str, name: str) -> Node | None:
        return self._get(f"nodes/{pod}/{name}", _node_decoder)

    def list_nodes(self, pod: str | None = None) -> list[Node]:
        """Nodes of one pod (or of all pods), oldest first."""
        rel = f"nodes/{pod}/" if pod else "nodes/"
        return sorted(self._list(rel, _node_decoder), key=lambda n: (n.created, n.name))

    def _node_names(self, pod: str) -> set[str]:
        """Names of the node keys of a pod (damaged records included: their names are taken)."""
        start = len(self._key("nodes", pod, ""))
        return {kv.key.decode(errors="replace")[start:]
                for kv in self._range(f"nodes/{pod}/", keys_only=True).kvs}

    def add_nodes(self, pod_name: str, nodes: Iterable[Node], create_app: App | None = None,
                  expect_count: int | None = None) -> list[Node]:
        """Add nodes to a pod, never beyond its max_nodes.

        With `create_app`, the app record is created with the (first batch of)
        nodes (Conflict if it exists). Otherwise every node's app must exist
        and run in this pod. Raises NotFound (pod/app missing), Conflict (a
        node name is taken) or CapacityError (not enough free slots for ALL
        the nodes: then nothing is written). Returns the nodes as stored.

        One transaction per `max_txn_ops - 4 - apps` nodes (see the module
        docstring, "Big changes"). A lost race is retried here, which is right
        for "add these nodes". A caller that computed the nodes from what it
        read (scale to N) passes `expect_count`, the podcount it read *before*
        reading the nodes: if the pod changed since, StaleCount is raised
        instead (with `done`: the nodes added by earlier batches), and the
        caller recomputes. That makes "scale to N" exact under concurrency.
        """
        nodes = list(nodes)
        for n in nodes:
            if n.pod != pod_name:
                raise ValueError(f"node {n.name} belongs to pod {n.pod}, not {pod_name}")
        if len({n.name for n in nodes}) != len(nodes):
            raise Conflict("the same node name appears twice in one request; use distinct names")
        apps = sorted({n.app for n in nodes} - ({create_app.name} if create_app else set()))
        done: list[Node] = []
        for batch in _chunks(nodes, self._batch(4 + len(apps))):
            try:
                count = self._add_batch(pod_name, batch, apps, create_app if not done else None,
                                        expect_count, wanted=len(nodes) - len(done))
            except SimpleCloudError as exc:
                raise _partial(exc, done, len(nodes), "added") from None
            done += batch
            expect_count = None if expect_count is None else count
        stored = {n.name: n for n in self.list_nodes(pod_name)}
        return [stored.get(n.name, n) for n in nodes]

    def _add_batch(self, pod_name: str, batch: list[Node], apps: list[str], create_app: App | None,
                   expect_count: int | None, wanted: int) -> int:
        """One guarded transaction of ``add_nodes``; returns the new podcount.
        ``wanted``: the nodes still to add in all (capacity is checked for all)."""
        for attempt in range(RETRIES):
            pod, count, pin = self._check_add(pod_name, apps, create_app, expect_count)
            taken = sorted({n.name for n in batch} & self._node_names(pod_name))
            if taken and expect_count is not None and self.pod_node_count(pod_name) != count:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            if taken:
                raise Conflict(f"node {taken[0]!r} already exists in pod {pod_name!r}; "
                               f"choose another name")
            validate.capacity(pod, count, wanted)
            compare = [self._tx.version(self._key("pods", pod_name)) > 0, *pin]
            compare += [self._tx.version(self._key("apps", a)) > 0 for a in apps]
            compare += [self._tx.version(self._key("nodes", pod_name, n.name)) == 0 for n in batch]
            success = [self._put(f"nodes/{pod_name}/{n.name}", n.to_dict()) for n in batch]
            success.append(self._write_guard(pod_name, count + len(batch)))
            if create_app:
                compare.append(self._tx.version(self._key("apps", create_app.name)) == 0)
                success.append(self._put(f"apps/{create_app.name}", create_app.to_dict()))
            if self._txn(compare, success):
                return count + len(batch)
            if expect_count is not None:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            _backoff(attempt)
        raise Conflict(f"pod {pod_name!r} kept changing while nodes were added; try again")

    def _check_add(self, pod_name: str, apps: list[str], create_app: App | None,
                   expect_count: int | None) -> tuple[Pod, int, list]:
        """Read and check what an added batch depends on: (pod, count, guard pin)."""
        pod = self.get_pod(pod_name)
        if pod is None:
            raise NotFound(f"pod {pod_name!r} does not exist; register it first "
                           f"(cloud pod register {pod_name} ...) or see: cloud pod ls")
        for name in apps:
            app = self.get_app(name)
            if app is None:
                raise NotFound(f"app {name!r} does not exist; deploy it first or name another app")
            if app.pod != pod_name:
                raise ValidationError("app", f"app {name!r} runs in pod {app.pod!r}, not {pod_name!r}")
        if create_app and self.get_app(create_app.name) is not None:
            raise Conflict(f"app {create_app.name!r} already exists; choose another name, "
                           f"or scale it (cloud app scale {create_app.name} N)")
        count, pin = self._guard(pod_name)
        if expect_count is not None and count != expect_count:
            raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
        return pod, count, pin

    def update_node(self, node: Node) -> Node:
        """Compare-and-swap one node record on `node.revision` (see update_nodes)."""
        return self.update_nodes([node])[0]

    def update_nodes(self, nodes: Iterable[Node]) -> list[Node]:
        """Write changed node records, each only if unchanged since it was read.

        Each node's `revision` must be the mod_revision it was read at. If any
        record of a batch changed meanwhile, nothing of that batch is written
        and Conflict is raised (with `done`: the nodes written by earlier
        batches), unless every record already holds exactly the requested
        values (a retried request), which counts as success. Up to
        `max_txn_ops` nodes are written in one transaction.
        """
        nodes = list(nodes)
        if any(n.revision <= 0 for n in nodes):
            raise ValueError("update_nodes needs nodes read from the store (revision > 0)")
        done: list[Node] = []
        for batch in _chunks(nodes, self.max_txn_ops):
            try:
                done += self._update_batch(batch)
            except SimpleCloudError as exc:
                raise _partial(exc, done, len(nodes), "updated") from None
        return done

    def _update_batch(self, nodes: list[Node]) -> list[Node]:
        if not nodes:
            return []
        compare = [self._tx.mod(self._key("nodes", n.pod, n.name)) == n.revision for n in nodes]
        success = [self._put(f"nodes/{n.pod}/{n.name}", n.to_dict()) for n in nodes]
        ok = self._txn(compare, success)
        current = self._current(nodes)
        if ok or all(c is not None and c == n for c, n in zip(current, nodes)):
            return [c or n for c, n in zip(current, nodes)]
        missing = [n for n, c in zip(nodes, current) if c is None]
        if missing:
            raise NotFound(f"node {missing[0].name!r} no longer exists in pod {missing[0].pod!r}")
        raise Conflict("node(s) " + ", ".join(n.name for n in nodes)
                       + " changed while this request ran; look again and retry")

    def _current(self, nodes: list[Node]) -> list[Node | None]:
        """The stored version of each node (one read per pod)."""
        stored = {(n.pod, n.name): n for pod in {n.pod for n in nodes} for n in self.list_nodes(pod)}
        return [stored.get((n.pod, n.name)) for n in nodes]

    def remove_nodes(self, pod_name: str, names: Iterable[str], delete_app: str | None = None,
                     expect_count: int | None = None) -> list[Node]:
        """Delete node records of one pod and decrement its podcount.

        With `delete_app`, the app record is deleted with the (last batch of)
        nodes, and only if no other node of the app is left in the pod: if
        one was added meanwhile, StaleCount. NotFound if any named node is
        missing (then nothing is deleted). `expect_count` works as in
        add_nodes; more nodes than fit in one transaction are removed in
        batches (see the module docstring, "Big changes").
        """
        names = list(dict.fromkeys(names))
        if not names and delete_app is None:
            return []
        missing = sorted(set(names) - self._node_names(pod_name))
        if missing:
            raise NotFound(f"node {missing[0]!r} does not exist in pod {pod_name!r}; "
                           f"see the nodes with: cloud node ls {pod_name}")
        batches = _chunks(names, self._batch(3))
        done: list[Node] = []
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            try:
                removed, count = self._remove_batch(pod_name, batch, delete_app if last else None,
                                                    expect_count)
            except SimpleCloudError as exc:
                raise _partial(exc, done, len(names), "removed") from None
            done += removed
            expect_count = None if expect_count is None else count
        return done

    def _remove_batch(self, pod_name: str, names: list[str], delete_app: str | None,
                      expect_count: int | None) -> tuple[list[Node], int]:
        """One guarded transaction of ``remove_nodes``: (removed nodes, new podcount)."""
        for attempt in range(RETRIES):
            count, pin = self._guard(pod_name)          # read the guard BEFORE the nodes
            if expect_count is not None and count != expect_count:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            in_pod = {n.name: n for n in self.list_nodes(pod_name)}
            nodes = [in_pod.get(name) for name in names]
            gone = [name for name, node in zip(names, nodes) if node is None]
            if gone:
                raise NotFound(f"node {gone[0]!r} does not exist in pod {pod_name!r}; "
                               f"see the nodes with: cloud node ls {pod_name}")
            compare = [*pin] + [self._tx.version(self._key("nodes", pod_name, n)) > 0 for n in names]
            success = [self._tx.delete(self._key("nodes", pod_name, n)) for n in names]
            success.append(self._write_guard(pod_name, max(0, count - len(names))))
            if delete_app:
                self._check_app_empties(delete_app, pod_name, in_pod, names)
                compare.append(self._tx.version(self._key("apps", delete_app)) > 0)
                success.append(self._tx.delete(self._key("apps", delete_app)))
            if self._txn(compare, success):
                return nodes, max(0, count - len(names))
            if delete_app and self.get_app(delete_app) is None:
                raise NotFound(f"app {delete_app!r} does not exist (any more)")
            if expect_count is not None:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            _backoff(attempt)
        raise Conflict(f"pod {pod_name!r} kept changing while nodes were removed; try again")

    def _check_app_empties(self, app: str, pod_name: str, in_pod: dict[str, Node], names: list[str]) -> None:
        """An app is deleted only with the last of its nodes (no node without its app)."""
        left = sorted(n.name for n in in_pod.values() if n.app == app and n.name not in names)
        if left:
            raise StaleCount(f"app {app!r} still has node(s) {', '.join(left[:5])} in pod "
                             f"{pod_name!r} (added meanwhile?); stop it again")

    # ---------------------------------------------------------------- events

    def record_event(self, kind: str, subject: str, message: str) -> Event:
        """Append an event; keeps at most `max_events` (oldest trimmed)."""
        event = Event(time=time.time(), kind=kind, subject=subject, message=message)
        seq = next(self._seq)
        key = f"events/{time.time_ns():020d}-{seq % 1_000_000:06d}{secrets.token_hex(2)}"
        self._call(self._client.put, self._key(key), json.dumps(event.to_dict()))
        if seq % max(1, self.max_events // 20) == 0:
            self.trim_events()
        return event

    def trim_events(self) -> int:
        """Delete the oldest events beyond `max_events`; returns how many were deleted."""
        count = self._range("events/", count_only=True).count
        excess = count - self.max_events
        if excess <= 0:
            return 0
        # the first key to keep: the (excess+1)-th oldest
        first_kept = self._range("events/", limit=excess + 1, keys_only=True).kvs[-1].key
        start = self._key("events/").encode()
        request = etcdrpc.DeleteRangeRequest(key=start, range_end=first_kept)
        return self._call(self._kv.DeleteRange, request, self._timeout).deleted

    def events(self, limit: int = 50) -> list[Event]:
        """The newest `limit` events, newest first (damaged ones skipped)."""
        return self._list("events/", lambda d, _rev, _key: Event.from_dict(d), limit=limit, descend=True)

    # ---------------------------------------------------------------- observed state

    def put_observed(self, pod: str, node: str, state: dict) -> None:
        self._call(self._client.put, self._key("observed", pod, node), json.dumps(state, sort_keys=True))

    def get_observed(self, pod: str, node: str) -> dict | None:
        """A node's observed record; None if absent or damaged (it is only the
        controller's last look, and its next write replaces it)."""
        try:
            found = self._get(f"observed/{pod}/{node}", _observed_decoder)
        except CorruptRecord:
            return None
        return found[1] if found else None

    def list_observed(self) -> dict[tuple[str, str], dict]:
        """Every observed record, keyed by (pod, node); damaged ones skipped."""
        return dict(self._list("observed/", _observed_decoder))

    def delete_observed(self, pod: str, node: str) -> None:
        self._call(self._client.delete, self._key("observed", pod, node))

    def put_host_state(self, host: str, state: dict) -> None:
        self._call(self._client.put, self._key("hosts", host), json.dumps(state, sort_keys=True))

    def list_host_states(self) -> dict[str, dict]:
        """Reachability of every pod host the controller has a link to (damaged records skipped)."""
        return dict(self._list("hosts/", _plain_decoder))

    # ---------------------------------------------------------------- autoscaling

    def put_autoscale(self, app: str, policy: dict | None) -> None:
        """An app's autoscale policy (the API's JSON form); None removes it and
        the autoscaler's memory of the app."""
        if policy is None:
            self._call(self._client.delete, self._key("autoscale", app))
            self._call(self._client.delete, self._key("autoscale-state", app))
        else:
            self._call(self._client.put, self._key("autoscale", app), json.dumps(policy, sort_keys=True))

    def list_autoscale(self) -> dict[str, dict]:
        """app → policy, for every autoscaled app (damaged records skipped)."""
        return dict(self._list("autoscale/", _plain_decoder))

    def get_autoscale(self, app: str) -> dict | None:
        found = self._get(f"autoscale/{app}", _plain_decoder)
        return found[1] if found else None

    def put_autoscale_state(self, app: str, state: dict) -> None:
        """What the autoscaler remembers of an app (windows, cooldowns, last decision)."""
        self._call(self._client.put, self._key("autoscale-state", app), json.dumps(state, sort_keys=True))

    def list_autoscale_states(self) -> dict[str, dict]:
        """app → the autoscaler's memory; a damaged one is skipped (the autoscaler starts afresh)."""
        return dict(self._list("autoscale-state/", _plain_decoder))

    # ---------------------------------------------------------------- watch

    def wait_for_change(self, timeout: float) -> bool:
        """Block until desired state (pods/apps/nodes) changes, or `timeout` seconds pass.

        Returns True on a change, False on timeout. Changes made since the
        previous call (or since the Store was created) count too, so a change
        that lands while the caller is busy is never missed. Writes to
        observed/ and events/ do not wake: the controller writes those itself.

        Each call opens one gRPC watch stream with a deadline and closes it
        before returning, so no thread outlives the call.
        """
        with self._watch_lock:
            key = self.prefix.encode()
            create = etcdrpc.WatchCreateRequest(
                key=key, range_end=_prefix_end(key), start_revision=self._seen_revision + 1)
            done = threading.Event()

            def requests():
                yield etcdrpc.WatchRequest(create_request=create)
                done.wait()           # keep the stream open; etcd ends a half-closed watch

            call = self._watch.Watch(requests(), timeout=timeout)
            desired = tuple(self._key(k).encode() for k in DESIRED_KINDS)
            try:
                for response in call:
                    if response.compact_revision:
                        # We fell behind a compaction: changes may be lost, so report one.
                        self._seen_revision = response.header.revision
                        return True
                    if response.created:
                        self._seen_revision = max(self._seen_revision, response.header.revision)
                    changed = False
                    for event in response.events:
                        self._seen_revision = max(self._seen_revision, event.kv.mod_revision)
                        changed = changed or event.kv.key.startswith(desired)
                    if changed:
                        return True
            except grpc.RpcError as exc:
                # Our deadline, seen by the client or (as UNKNOWN) relayed by etcd.
                if (exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                        or "deadline exceeded" in (exc.details() or "")):
                    return False
                raise Unavailable(f"etcd watch failed ({exc.code().name}); check that etcd runs") from exc
            finally:
                done.set()
                call.cancel()
            return False


# ---------------------------------------------------------------- decoding records

def _decoder(cls, kind: str) -> Callable:
    """Decode a pod or app record and check that its key names it."""
    def decode(data, _revision: int, rel_key: str):
        record = cls.from_dict(data)
        _check_key(rel_key, f"{kind}/{record.name}")
        return record
    return decode


def _node_decoder(data, revision: int, rel_key: str) -> Node:
    node = Node.from_dict(data, revision=revision)
    _check_key(rel_key, f"nodes/{node.pod}/{node.name}")
    return node


def _observed_decoder(data, _revision: int, rel_key: str) -> tuple[tuple[str, str], dict]:
    parts = rel_key.split("/")
    if len(parts) != 3:
        raise RecordError("the key is not observed/<pod>/<node>")
    return (parts[1], parts[2]), check_record(data)


def _plain_decoder(data, _revision: int, rel_key: str) -> tuple[str, dict]:
    """A JSON object stored under ``<kind>/<name>``: (name, object)."""
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    return rel_key.split("/", 1)[1], data


def _check_key(rel_key: str, expected: str) -> None:
    if rel_key != expected:
        raise RecordError(f"the record belongs under {expected}, not {rel_key}")

