"""Store: the cluster's desired state, observed state and events in etcd.

Key layout (relative to the configurable prefix, default "/simplecloud/"),
as in docs/orchestrator.md:

    pods/<pod>              Pod JSON
    apps/<app>              App JSON
    nodes/<pod>/<node>      Node JSON
    podcount/<pod>          number of node records in the pod (decimal text)
    events/<ns>-<seq>       Event JSON; keys sort by time
    observed/<pod>/<node>   what the controller last saw of a node, and its
                            healing record (core/observed.py, core/healing.py)
    hosts/<host>            reachability of a pod host's link (controller)

Why two concurrent requests cannot both take the last free node
----------------------------------------------------------------
Every change of a pod's node set is ONE etcd transaction (`Txn`): a list of
comparisons, then writes that etcd applies only if *all* comparisons hold,
atomically, at a single revision. `add_nodes` reads `podcount/<pod>` (say 19
of 20), checks capacity in Python, then sends:

    IF   podcount/<pod> == "19"  (or is absent, if it was absent)
    AND  nodes/<pod>/<each new name> does not exist
    AND  pods/<pod> exists, and each node's app exists
    THEN put every node, put podcount/<pod> = "20"

Two requests that both read "19" both send `podcount == "19"`. etcd serialises
transactions, so the first one commits and moves podcount to "20"; the second
one's comparison is now false and nothing of it is written. The loser re-reads
(podcount "20"), sees the pod is full and raises CapacityError. The same
counter guards `remove_nodes` and `delete_pod` (a pod can only be deleted
while its podcount is 0), so capacity can never be over-committed and a pod
can never vanish under its nodes. This is optimistic concurrency: no locks,
no leases, and a crash between read and write leaves nothing half-written.

`update_node` (status changes such as launch/pause) is a compare-and-swap on
the node key's mod_revision that was read with the node (`Node.revision`), so
a status change based on a stale read is refused instead of overwriting a
newer one.

Reads return model objects or None (absence is not an error here); the
service layer turns None into NotFound with a message for the user.
"""

from __future__ import annotations

import itertools
import json
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable

import etcd3
import grpc
from etcd3 import etcdrpc
from etcd3.exceptions import Etcd3Exception

from orchestrator.core import validate
from orchestrator.core.errors import Conflict, NotFound, Unavailable
from orchestrator.core.model import App, Event, Node, Pod

class StaleCount(Conflict):
    """The pod's node count is not the one the caller expected (see `expect_count`)."""


RETRIES = 25                    # attempts of an optimistic transaction before giving up
MAX_EVENTS = 1000               # events kept; older ones are trimmed
DESIRED_KINDS = ("pods/", "apps/", "nodes/")   # writes that wake the controller


def _prefix_end(prefix: bytes) -> bytes:
    """The range end that makes [prefix, end) cover every key starting with prefix."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))


class Store:
    """Desired state, observed state and events of one cluster, in etcd."""

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
    def from_settings(cls, settings) -> Store:
        tls = (settings.etcd_ca_file, settings.etcd_cert_file, settings.etcd_key_file)
        if any(tls) and not all(tls):
            raise ValueError("etcd TLS needs all of etcd_ca_file, etcd_cert_file and etcd_key_file")
        return cls(settings.etcd_host, settings.etcd_port, settings.etcd_prefix,
                   tls=tls if all(tls) else None)

    def close(self) -> None:
        """Close the gRPC channel. The Store must not be used afterwards."""
        self._client.close()

    # ---------------------------------------------------------------- low level

    def _key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def _call(self, fn: Callable, *args, **kwargs):
        """Run an etcd call, turning connection failures into Unavailable (503)."""
        try:
            return fn(*args, **kwargs)
        except grpc.RpcError as exc:
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

    def _get(self, rel_key: str) -> tuple[dict | None, int]:
        """(decoded JSON or None, mod_revision or 0) of one key."""
        value, meta = self._call(self._client.get, self._key(rel_key))
        if value is None:
            return None, 0
        return json.loads(value), meta.mod_revision

    def _list(self, rel_prefix: str) -> list[tuple[dict, int]]:
        return [(json.loads(kv.value), kv.mod_revision) for kv in self._range(rel_prefix).kvs]

    def _txn(self, compare: list, success: list) -> bool:
        ok, _ = self._call(self._client.transaction, compare=compare, success=success, failure=[])
        return ok

    def _put(self, rel_key: str, data: dict):
        return self._tx.put(self._key(rel_key), json.dumps(data, sort_keys=True))

    def _write_record(self, rel_key: str, data: dict, create: bool) -> bool:
        """Put a record only if it is absent (``create``) or present (update);
        False if that condition did not hold."""
        version = self._tx.version(self._key(rel_key))
        return self._txn([version == 0 if create else version > 0], [self._put(rel_key, data)])

    def _podcount(self, pod: str) -> tuple[int, list]:
        """Current node count of a pod and the comparison that pins it in a transaction."""
        key = self._key("podcount", pod)
        value, _ = self._call(self._client.get, key)
        if value is None:
            return 0, [self._tx.version(key) == 0]
        return int(value), [self._tx.value(key) == value]

    # ---------------------------------------------------------------- pods

    def get_pod(self, name: str) -> Pod | None:
        data, _ = self._get(f"pods/{name}")
        return Pod.from_dict(data) if data else None

    def list_pods(self) -> list[Pod]:
        return [Pod.from_dict(d) for d, _ in self._list("pods/")]

    def put_pod(self, pod: Pod, create: bool) -> Pod:
        """Create (Conflict if the name is taken) or update (NotFound if absent) a pod."""
        if not self._write_record(f"pods/{pod.name}", pod.to_dict(), create):
            if create:
                raise Conflict(f"pod {pod.name!r} already exists; choose another name "
                               f"or remove it first (cloud pod rm {pod.name})")
            raise NotFound(f"pod {pod.name!r} does not exist; register it first")
        return pod

    def pod_node_count(self, name: str) -> int:
        return self._podcount(name)[0]

    def delete_pod(self, name: str) -> Pod:
        """Delete an empty pod. Conflict if it still has nodes, NotFound if absent."""
        for attempt in range(RETRIES):
            pod = self.get_pod(name)
            if pod is None:
                raise NotFound(f"pod {name!r} does not exist; see the pods with: cloud pod ls")
            count, pin = self._podcount(name)
            if count:
                raise Conflict(f"pod {name!r} still has {count} node(s); remove them first "
                               f"(cloud rm NODE {name}, or stop their app)")
            ok = self._txn([self._tx.version(self._key("pods", name)) > 0, *pin],
                           [self._tx.delete(self._key("pods", name)),
                            self._tx.delete(self._key("podcount", name))])
            if ok:
                return pod
            _backoff(attempt)
        raise Conflict(f"pod {name!r} kept changing while it was being removed; try again")

    # ---------------------------------------------------------------- apps

    def get_app(self, name: str) -> App | None:
        data, _ = self._get(f"apps/{name}")
        return App.from_dict(data) if data else None

    def list_apps(self) -> list[App]:
        return [App.from_dict(d) for d, _ in self._list("apps/")]

    def put_app(self, app: App, create: bool) -> App:
        """Create (Conflict if the name is taken) or update (NotFound if absent) an app."""
        if not self._write_record(f"apps/{app.name}", app.to_dict(), create):
            if create:
                raise Conflict(f"app {app.name!r} already exists; choose another name, "
                               f"or scale it (cloud app scale {app.name} N)")
            raise NotFound(f"app {app.name!r} does not exist; deploy it first")
        return app

    def delete_app(self, name: str) -> App:
        """Delete an app record (its nodes are removed by the caller, see remove_nodes)."""
        app = self.get_app(name)
        if app is None or not self._txn([self._tx.version(self._key("apps", name)) > 0],
                                        [self._tx.delete(self._key("apps", name))]):
            raise NotFound(f"app {name!r} does not exist; see the apps with: cloud app ls")
        return app

    # ---------------------------------------------------------------- nodes

    def get_node(self, pod: str, name: str) -> Node | None:
        data, rev = self._get(f"nodes/{pod}/{name}")
        return Node.from_dict(data, revision=rev) if data else None

    def list_nodes(self, pod: str | None = None) -> list[Node]:
        """Nodes of one pod (or of all pods), oldest first."""
        rel = f"nodes/{pod}/" if pod else "nodes/"
        nodes = [Node.from_dict(d, revision=rev) for d, rev in self._list(rel)]
        return sorted(nodes, key=lambda n: (n.created, n.name))

    def add_nodes(self, pod_name: str, nodes: Iterable[Node], create_app: App | None = None,
                  expect_count: int | None = None) -> list[Node]:
        """Add nodes to a pod in ONE transaction, never beyond its max_nodes.

        With `create_app`, the app record is created in the same transaction
        (Conflict if it exists). Otherwise every node's app must exist.
        Raises NotFound (pod/app missing), Conflict (a node name is taken) or
        CapacityError (not enough free slots). Returns the nodes as stored.

        A lost race is retried here, which is right for "add these nodes".
        A caller that computed the nodes from what it read (scale to N) passes
        `expect_count`, the podcount it read *before* reading the nodes: if the
        pod changed since, StaleCount is raised instead, and the caller
        recomputes. That makes "scale to N" exact under concurrency.
        """
        nodes = list(nodes)
        for n in nodes:
            if n.pod != pod_name:
                raise ValueError(f"node {n.name} belongs to pod {n.pod}, not {pod_name}")
        if len({n.name for n in nodes}) != len(nodes):
            raise Conflict("the same node name appears twice in one request; use distinct names")
        apps = sorted({n.app for n in nodes} - ({create_app.name} if create_app else set()))
        for attempt in range(RETRIES):
            pod = self.get_pod(pod_name)
            if pod is None:
                raise NotFound(f"pod {pod_name!r} does not exist; register it first "
                               f"(cloud pod register {pod_name} ...) or see: cloud pod ls")
            for app in apps:
                if self.get_app(app) is None:
                    raise NotFound(f"app {app!r} does not exist; deploy it first or name another app")
            if create_app and self.get_app(create_app.name) is not None:
                raise Conflict(f"app {create_app.name!r} already exists; choose another name, "
                               f"or scale it (cloud app scale {create_app.name} N)")
            count, pin = self._podcount(pod_name)
            if expect_count is not None and count != expect_count:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            taken = [n.name for n in nodes if self.get_node(pod_name, n.name) is not None]
            if taken and expect_count is not None and self.pod_node_count(pod_name) != expect_count:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            if taken:
                raise Conflict(f"node {taken[0]!r} already exists in pod {pod_name!r}; "
                               f"choose another name")
            validate.capacity(pod, count, len(nodes))
            compare = [self._tx.version(self._key("pods", pod_name)) > 0, *pin]
            compare += [self._tx.version(self._key("apps", a)) > 0 for a in apps]
            compare += [self._tx.version(self._key("nodes", pod_name, n.name)) == 0 for n in nodes]
            success = [self._put(f"nodes/{pod_name}/{n.name}", n.to_dict()) for n in nodes]
            success.append(self._tx.put(self._key("podcount", pod_name), str(count + len(nodes))))
            if create_app:
                compare.append(self._tx.version(self._key("apps", create_app.name)) == 0)
                success.append(self._put(f"apps/{create_app.name}", create_app.to_dict()))
            if self._txn(compare, success):
                return [self.get_node(pod_name, n.name) or n for n in nodes]
            if expect_count is not None:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            _backoff(attempt)
        raise Conflict(f"pod {pod_name!r} kept changing while nodes were added; try again")

    def update_node(self, node: Node) -> Node:
        """Compare-and-swap one node record on `node.revision` (see update_nodes)."""
        return self.update_nodes([node])[0]

    def update_nodes(self, nodes: Iterable[Node]) -> list[Node]:
        """Write changed node records atomically, each only if unchanged since it was read.

        Each node's `revision` must be the mod_revision it was read at. If any
        record changed meanwhile, nothing is written and Conflict is raised,
        unless every record already holds exactly the requested values (a
        retried request), which counts as success.
        """
        nodes = list(nodes)
        if not nodes:
            return []
        compare = [self._tx.mod(self._key("nodes", n.pod, n.name)) == n.revision for n in nodes]
        success = [self._put(f"nodes/{n.pod}/{n.name}", n.to_dict()) for n in nodes]
        if not self._txn(compare, success):
            current = [self.get_node(n.pod, n.name) for n in nodes]
            if all(c is not None and c == n for c, n in zip(current, nodes)):
                return current
            missing = [n for n, c in zip(nodes, current) if c is None]
            if missing:
                raise NotFound(f"node {missing[0].name!r} no longer exists in pod {missing[0].pod!r}")
            raise Conflict("node(s) " + ", ".join(n.name for n in nodes)
                           + " changed while this request ran; look again and retry")
        return [self.get_node(n.pod, n.name) or n for n in nodes]

    def remove_nodes(self, pod_name: str, names: Iterable[str], delete_app: str | None = None,
                     expect_count: int | None = None) -> list[Node]:
        """Delete node records of one pod atomically and decrement its podcount.

        With `delete_app`, the app record is deleted in the same transaction.
        NotFound if any named node is missing (then nothing is deleted).
        `expect_count` works as in add_nodes.
        """
        names = list(dict.fromkeys(names))
        if not names:                       # nothing to count: leave podcount alone
            if delete_app is not None:
                self.delete_app(delete_app)
            return []
        for attempt in range(RETRIES):
            nodes = [self.get_node(pod_name, name) for name in names]
            for name, node in zip(names, nodes):
                if node is None:
                    raise NotFound(f"node {name!r} does not exist in pod {pod_name!r}; "
                                   f"see the nodes with: cloud node ls {pod_name}")
            count, pin = self._podcount(pod_name)
            if expect_count is not None and count != expect_count:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            compare = [*pin] + [self._tx.version(self._key("nodes", pod_name, n)) > 0 for n in names]
            success = [self._tx.delete(self._key("nodes", pod_name, n)) for n in names]
            success.append(self._tx.put(self._key("podcount", pod_name), str(max(0, count - len(names)))))
            if delete_app:
                compare.append(self._tx.version(self._key("apps", delete_app)) > 0)
                success.append(self._tx.delete(self._key("apps", delete_app)))
            if self._txn(compare, success):
                return nodes
            if delete_app and self.get_app(delete_app) is None:
                raise NotFound(f"app {delete_app!r} does not exist (any more)")
            if expect_count is not None:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            _backoff(attempt)
        raise Conflict(f"pod {pod_name!r} kept changing while nodes were removed; try again")

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
        """The newest `limit` events, newest first."""
        kvs = self._range("events/", limit=limit, descend=True).kvs
        return [Event.from_dict(json.loads(kv.value)) for kv in kvs]

    # ---------------------------------------------------------------- observed state

    def put_observed(self, pod: str, node: str, state: dict) -> None:
        self._call(self._client.put, self._key("observed", pod, node), json.dumps(state, sort_keys=True))

    def get_observed(self, pod: str, node: str) -> dict | None:
        return self._get(f"observed/{pod}/{node}")[0]

    def list_observed(self) -> dict[tuple[str, str], dict]:
        """Every observed record, keyed by (pod, node)."""
        out = {}
        for kv in self._range("observed/").kvs:
            pod, node = kv.key.decode()[len(self._key("observed/")):].split("/", 1)
            out[(pod, node)] = json.loads(kv.value)
        return out

    def delete_observed(self, pod: str, node: str) -> None:
        self._call(self._client.delete, self._key("observed", pod, node))

    def put_host_state(self, host: str, state: dict) -> None:
        self._call(self._client.put, self._key("hosts", host), json.dumps(state, sort_keys=True))

    def list_host_states(self) -> dict[str, dict]:
        """Reachability of every pod host the controller has a link to."""
        prefix = self._key("hosts/")
        return {kv.key.decode()[len(prefix):]: json.loads(kv.value) for kv in self._range("hosts/").kvs}

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

