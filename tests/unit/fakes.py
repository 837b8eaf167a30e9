"""In-memory stand-ins for the edges (and a clock and a sampler), for unit tests only.

`FakeStore` has the public interface and the refusal semantics of
`orchestrator.edges.store.Store` (create/update conflicts, capacity, compare-and-swap
on `Node.revision`, `expect_count`), with a dict instead of etcd and a lock
instead of transactions. Records are kept as JSON-like dicts, so a model
object that does not round-trip would fail here too. The real Store is
tested against a real etcd in tests/integration/test_store.py.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import threading
import time
from collections import Counter

from orchestrator.core.errors import CapacityError, Conflict, NotFound, StaleCount, Unavailable, ValidationError
from orchestrator.core.model import App, Container, Event, Host, Node, Pod, Server
from orchestrator.core.naming import container_name, route_key
from orchestrator.core.placement import Resources
from orchestrator.core.pools import added_load, node_size, pool_of, refusal
from orchestrator.core.schema import Autoscale


class FakeStore:
    def __init__(self, prefix: str = "/fake/", max_events: int = 1000):
        self.prefix = prefix
        self.max_events = max_events
        self.data: dict[str, tuple[dict, int]] = {}    # key -> (value, mod_revision)
        self.created: dict[str, int] = {}                # key -> create_revision
        self.revision = 0
        self.writes = 0                                  # number of committed write batches
        self._events: list[Event] = []
        self._lock = threading.RLock()
        self._changed = threading.Event()
        self._seq = itertools.count()
        self.etcd_health = {"db_bytes": 100_000, "quota_bytes": 2 ** 31, "revision": 1, "alarms": [],
                            "version": "3.4.23"}

    # --- helpers ---
    def _get(self, key):
        item = self.data.get(key)
        return (copy.deepcopy(item[0]), item[1]) if item else (None, 0)

    def _commit(self, puts: dict[str, dict], deletes=(), event: Event | None = None):
        """Apply one batch atomically at one new revision (like an etcd Txn),
        with the event that tells of it."""
        self.revision += 1
        self.writes += 1
        for key in deletes:
            self.data.pop(key, None)
            self.created.pop(key, None)
        for key, value in puts.items():
            self.data[key] = (copy.deepcopy(value), self.revision)
            self.created.setdefault(key, self.revision)
        if event is not None:
            self._events.append(event)
            del self._events[:-self.max_events]
        if any(k.split("/")[0] in ("pods", "apps", "nodes", "hosts") for k in [*puts, *deletes]):
            self._changed.set()

    def _route_taken(self, app):
        """The Conflict when another app holds ``app``'s route key (edges/store/routes.py), else None."""
        key = route_key(app)
        holder = (self._get(key)[0] or {}).get("app") if key else None
        if holder is None or holder == app.name:
            return None
        return Conflict(f"path {app.path!r} is already the route of app {holder!r}", "path") if app.path else \
            Conflict(f"host {app.host!r} is already the route of app {holder!r}", "host")

    def _route_puts(self, app):
        key = route_key(app)
        return {key: {"app": app.name, "host": app.host, "path": app.path}} if key else {}

    def _route_deletes(self, app):
        key = route_key(app)
        return [key] if key and (self._get(key)[0] or {}).get("app") == app.name else []

    def _count(self, pod):
        value, _ = self._get(f"podcount/{pod}")
        return int(value["n"]) if value else 0

    def _room(self, pod, in_pod, added):
        """CapacityError unless ``added`` (count per host) fits (as the store checks)."""
        why = refusal(pool_of(pod, {h.name: h for h in self.list_hosts()}, self.host_loads(), in_pod),
                      added, node_size(pod))
        if why:
            raise CapacityError(why)

    def _load_puts(self, changes):
        loads, puts = self.host_loads(), {}
        for host, change in changes.items():
            new = loads.get(host, Resources()) + change
            puts[f"hostload/{host}"] = Resources(max(0, new.nodes), max(0.0, round(new.cpus, 6)),
                                                 max(0, new.memory_mb)).to_dict()
        return puts

    # --- pods ---
    def get_pod(self, name):
        value, _ = self._get(f"pods/{name}")
        return Pod.from_dict(value) if value else None

    def list_pods(self):
        return [Pod.from_dict(v) for k, (v, _) in sorted(self.data.items()) if k.startswith("pods/")]

    def put_pod(self, pod, create, event=None):
        with self._lock:
            exists = f"pods/{pod.name}" in self.data
            if create and exists:
                raise Conflict(f"pod {pod.name!r} already exists")
            if not create and not exists:
                raise NotFound(f"pod {pod.name!r} does not exist")
            self._commit({f"pods/{pod.name}": pod.to_dict()}, event=event)
            return pod

    def pod_node_count(self, name):
        return self._count(name)

    def delete_pod(self, name, event=None):
        with self._lock:
            pod = self.get_pod(name)
            if pod is None:
                raise NotFound(f"pod {name!r} does not exist")
            if self._count(name):
                raise Conflict(f"pod {name!r} still has {self._count(name)} node(s); remove them first")
            apps = [a.name for a in self.list_apps() if a.pod == name]
            if apps:
                raise Conflict(f"pod {name!r} is used by app(s) {', '.join(apps)}; stop them first")
            observed = [k for k in self.data if k.startswith(f"observed/{name}/")]
            self._commit({}, [f"pods/{name}", f"podcount/{name}", *observed], event)
            return pod

    # --- apps ---
    def _app(self, key, value, revision):
        return App.from_dict(value, revision=revision, created_revision=self.created.get(key, 0))

    def get_app(self, name):
        value, revision = self._get(f"apps/{name}")
        return self._app(f"apps/{name}", value, revision) if value else None

    def list_apps(self):
        return [self._app(k, v, r) for k, (v, r) in sorted(self.data.items()) if k.startswith("apps/")]

    def put_app(self, app, create, event=None):
        with self._lock:
            stored = self.get_app(app.name)
            if create and stored is not None:
                raise Conflict(f"app {app.name!r} already exists")
            if create and self.get_pod(app.pod) is None:
                raise NotFound(f"pod {app.pod!r} does not exist; register it first", "pod")
            if not create and stored is None:
                raise NotFound(f"app {app.name!r} does not exist")
            if not create and app.revision and stored.revision != app.revision:
                raise StaleCount(f"app {app.name!r} changed while this request ran")
            refused = self._route_taken(app)
            if refused:
                raise refused
            puts = {f"apps/{app.name}": app.to_dict(), **self._route_puts(app)}
            self._commit(puts, [] if create or route_key(stored) == route_key(app) else self._route_deletes(stored),
                         event)
            return app

    def _app_deletes(self, app):
        return [f"apps/{app.name}", f"autoscale/{app.name}", f"autoscale-state/{app.name}",
                *self._route_deletes(app)]

    def delete_app(self, name, event=None):
        with self._lock:
            app = self.get_app(name)
            if app is None:
                raise NotFound(f"app {name!r} does not exist")
            if any(n.app == name for n in self.list_nodes(app.pod)):
                raise StaleCount(f"app {name!r} still has nodes in pod {app.pod!r}")
            self._commit({}, self._app_deletes(app), event)
            return app

    # --- nodes ---
    def get_node(self, pod, name):
        value, rev = self._get(f"nodes/{pod}/{name}")
        return Node.from_dict(value, revision=rev) if value else None

    def list_nodes(self, pod=None):
        start = f"nodes/{pod}/" if pod else "nodes/"
        nodes = [Node.from_dict(copy.deepcopy(v), revision=r)
                 for k, (v, r) in self.data.items() if k.startswith(start)]
        return sorted(nodes, key=lambda n: (n.created, n.name))

    def _stale_updates(self, update):
        """StaleCount if a node to rewrite changed since it was read (as the store's CAS)."""
        for n in update:
            now = self.get_node(n.pod, n.name)
            if now is None or now.revision != n.revision:
                raise StaleCount(f"node {n.name!r} changed while this request ran; try again")
        return {f"nodes/{n.pod}/{n.name}": n.to_dict() for n in update}

    def add_nodes(self, pod_name, nodes, create_app=None, expect_count=None, event=None, update=()):
        nodes = list(nodes)
        with self._lock:
            pod = self.get_pod(pod_name)
            if pod is None:
                raise NotFound(f"pod {pod_name!r} does not exist")
            if len({n.name for n in nodes}) != len(nodes):
                raise Conflict("the same node name appears twice in one request")
            for app in {n.app for n in nodes} - ({create_app.name} if create_app else set()):
                if self.get_app(app) is None:
                    raise NotFound(f"app {app!r} does not exist")
            if create_app and self.get_app(create_app.name) is not None:
                raise Conflict(f"app {create_app.name!r} already exists")
            count = self._count(pod_name)
            if expect_count is not None and count != expect_count:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            for n in nodes:
                if not n.host:
                    raise ValueError(f"node {n.name} has no host: place it first (core/placement.py)")
                if self.get_node(pod_name, n.name) is not None:
                    raise Conflict(f"node {n.name!r} already exists in pod {pod_name!r}")
            self._room(pod, self.list_nodes(pod_name), Counter(n.host for n in nodes))
            refused = self._route_taken(create_app) if create_app else None
            if refused:
                raise refused
            puts = {f"nodes/{pod_name}/{n.name}": n.to_dict() for n in nodes}
            puts.update(self._stale_updates(update))
            puts[f"podcount/{pod_name}"] = {"n": count + len(nodes)}
            puts.update(self._load_puts(added_load(nodes, node_size(pod))))
            if create_app:
                puts[f"apps/{create_app.name}"] = create_app.to_dict()
                puts.update(self._route_puts(create_app))
            self._commit(puts, event=event)
            return [self.get_node(pod_name, n.name) for n in nodes]

    def update_node(self, node, event=None):
        return self.update_nodes([node], event)[0]

    def update_nodes(self, nodes, event=None):
        nodes = list(nodes)
        with self._lock:
            current = [self.get_node(n.pod, n.name) for n in nodes]
            if any(c is None or c.revision != n.revision for c, n in zip(current, nodes)):
                if all(c is not None and c == n for c, n in zip(current, nodes)):
                    return current
                if any(c is None for c in current):
                    raise NotFound("node no longer exists")
                raise Conflict("node(s) changed while this request ran; look again and retry")
            if nodes:
                self._commit({f"nodes/{n.pod}/{n.name}": n.to_dict() for n in nodes}, event=event)
            return [self.get_node(n.pod, n.name) for n in nodes]

    def remove_nodes(self, pod_name, names, delete_app=None, expect_count=None, event=None, update=()):
        names = list(dict.fromkeys(names))
        with self._lock:
            if not names and update:
                self._commit(self._stale_updates(update), event=event)
                return []
            if not names:
                if delete_app is not None:
                    self.delete_app(delete_app, event)
                return []
            nodes = [self.get_node(pod_name, n) for n in names]
            for name, node in zip(names, nodes):
                if node is None:
                    raise NotFound(f"node {name!r} does not exist in pod {pod_name!r}")
            count = self._count(pod_name)
            if expect_count is not None and count != expect_count:
                raise StaleCount(f"pod {pod_name!r} changed while this request ran; try again")
            deletes = [f"nodes/{pod_name}/{n}" for n in names]
            if delete_app:
                app = self.get_app(delete_app)
                if app is None:
                    raise NotFound(f"app {delete_app!r} does not exist")
                if any(n.app == delete_app and n.name not in names for n in self.list_nodes(pod_name)):
                    raise StaleCount(f"app {delete_app!r} still has other nodes in pod {pod_name!r}")
                deletes += self._app_deletes(app)
            pod = self.get_pod(pod_name)
            loads = self._load_puts(added_load(nodes, node_size(pod), -1)) if pod else {}
            self._commit({f"podcount/{pod_name}": {"n": max(0, count - len(names))}, **loads,
                          **self._stale_updates(update)}, deletes, event)
            return nodes

    # --- hosts and pools ---
    def get_host(self, name):
        value, _ = self._get(f"hosts/{name}")
        return Host.from_dict(value) if value and "capacity" in value else None    # else a link state from before pools

    def list_hosts(self):
        return [Host.from_dict(v) for k, (v, _) in sorted(self.data.items())
                if k.startswith("hosts/") and "capacity" in v]

    def register_hosts(self, hosts):
        written = []
        with self._lock:
            for host in hosts:
                current = self.get_host(host.name)
                wanted = host if current is None else dataclasses.replace(host, draining=current.draining)
                if current != wanted:
                    self._commit({f"hosts/{host.name}": wanted.to_dict()})
                    written.append(host.name)
        return written

    def set_draining(self, name, draining):
        with self._lock:
            host = self.get_host(name)
            if host is None:
                raise NotFound(f"host {name!r} is not known; see the hosts with: cloud host ls")
            new = dataclasses.replace(host, draining=draining)
            if new != host:
                self._commit({f"hosts/{name}": new.to_dict()})
            return new

    def host_loads(self):
        return {k.split("/", 1)[1]: Resources(v["nodes"], v["cpus"], v["memory_mb"])
                for k, (v, _) in self.data.items() if k.startswith("hostload/")}

    def move_nodes(self, pod_name, nodes, news=()):
        nodes = list(nodes)
        with self._lock:
            pod = self.get_pod(pod_name)
            if pod is None:
                raise NotFound(f"pod {pod_name!r} does not exist (any more)")
            in_pod = {n.name: n for n in self.list_nodes(pod_name)}
            before = [in_pod.get(n.name) for n in nodes]
            if any(b is None for b in before):
                raise NotFound(f"node(s) of pod {pod_name!r} no longer exist; look again")
            if any(b.revision != n.revision for b, n in zip(before, nodes)):
                raise Conflict("node(s) changed meanwhile; look again")
            need = node_size(pod)
            leaving = [b for b, n in zip(before, nodes) if b.host != n.host]
            coming = [n for b, n in zip(before, nodes) if b.host != n.host]
            net = Counter(n.host for n in coming)
            net.subtract(Counter(b.host for b in leaving))
            self._room(pod, list(in_pod.values()), {h: k for h, k in net.items() if h})
            change = added_load(coming, need)
            for host, less in added_load(leaving, need, -1).items():
                change[host] = change.get(host, Resources()) + less
            puts = {f"nodes/{pod_name}/{n.name}": n.to_dict() for n in nodes}
            puts[f"podcount/{pod_name}"] = {"n": self._count(pod_name)}
            puts.update(self._load_puts(change))
            self._commit(puts)
            self._events.extend(news)                       # in the same step, as the store's transaction
            del self._events[:-self.max_events]
            return [self.get_node(pod_name, n.name) for n in nodes]

    def set_pod_hosts(self, name, hosts, lent, undrain=None):
        hosts, lent = tuple(dict.fromkeys(hosts)), tuple(dict.fromkeys(lent))
        if not hosts:
            raise ValidationError("hosts", f"pod {name!r} needs at least one host")
        with self._lock:
            pod = self.get_pod(name)
            if pod is None:
                raise NotFound(f"pod {name!r} does not exist; see the pods with: cloud pod ls", "pod")
            leaving = set(pod.hosts) - set(hosts)
            still = Counter(n.host for n in self.list_nodes(name) if n.host in leaving)
            for host, left in sorted(still.items()):
                raise Conflict(f"host {host} still has {left} node(s) of pod {name}; drain it first "
                               f"(cloud host drain {host})")
            known = {h.name: h for h in self.list_hosts()}
            unknown = [h for h in hosts if h not in known]
            if unknown:
                raise ValidationError("hosts", f"host {unknown[0]!r} is not known; the known hosts are "
                                               f"{', '.join(sorted(known)) or 'none'} (see: cloud host ls)")
            new = dataclasses.replace(pod, hosts=hosts, lent=tuple(h for h in lent if h in hosts))
            puts = {f"pods/{name}": new.to_dict(), f"podcount/{name}": {"n": self._count(name)}}
            if undrain is not None and undrain in known and known[undrain].draining:
                puts[f"hosts/{undrain}"] = dataclasses.replace(known[undrain], draining=False).to_dict()
            self._commit(puts)
            return new

    def put_link_state(self, host, state):
        with self._lock:
            self._commit({f"links/{host}": state})

    def list_link_states(self):
        return self._plain("links/")

    # --- events ---
    def record_event(self, kind, subject, message):
        with self._lock:
            event = Event.now(kind, subject, message)
            self._events.append(event)
            del self._events[:-self.max_events]
            return event

    def trim_events(self):
        return 0

    def events(self, limit=50):
        with self._lock:
            return list(reversed(self._events[-limit:]))

    # --- observed ---
    def put_observed(self, pod, node, state):
        with self._lock:
            if f"nodes/{pod}/{node}" not in self.data:
                return False
            self._commit({f"observed/{pod}/{node}": state})
            return True

    def get_observed(self, pod, node):
        return self._get(f"observed/{pod}/{node}")[0]

    def list_observed(self):
        return {tuple(k.split("/")[1:3]): copy.deepcopy(v)
                for k, (v, _) in self.data.items() if k.startswith("observed/")}

    def delete_observed(self, pod, node):
        with self._lock:
            self._commit({}, [f"observed/{pod}/{node}"])

    # --- autoscaling ---
    def _the_app(self, app, created_revision):
        key = f"apps/{app}"
        return key in self.data and (not created_revision or self.created.get(key) == created_revision)

    def put_autoscale(self, app, policy, event=None, created_revision=0):
        with self._lock:
            if policy is None:
                self._commit({}, [f"autoscale/{app}", f"autoscale-state/{app}"], event)
            elif not self._the_app(app, created_revision):
                raise NotFound(f"app {app!r} does not exist (any more)")
            else:
                self._commit({f"autoscale/{app}": policy.model_dump(mode="json", exclude_none=True)}, event=event)

    def _plain(self, prefix):
        return {k.split("/", 1)[1]: copy.deepcopy(v) for k, (v, _) in self.data.items() if k.startswith(prefix)}

    def list_autoscale(self):
        return {app: Autoscale.model_validate(data) for app, data in self._plain("autoscale/").items()}

    def get_autoscale(self, app):
        return self.list_autoscale().get(app)

    def put_autoscale_state(self, app, state, created_revision=0):
        with self._lock:
            if not self._the_app(app, created_revision):
                return False
            self._commit({f"autoscale-state/{app}": state})
            return True

    def list_autoscale_states(self):
        return self._plain("autoscale-state/")

    def put_spare_state(self, pod, state):
        with self._lock:
            self._commit({f"spares/{pod}": state} if state else {}, [] if state else [f"spares/{pod}"])

    def list_spare_states(self):
        return self._plain("spares/")

    # --- the load balancer's server tables, the leader ---
    def put_lb_table(self, backend, servers):
        with self._lock:
            self._commit({f"lb/{backend}": {"servers": copy.deepcopy(servers)}})

    def delete_lb_table(self, backend):
        with self._lock:
            self._commit({}, [f"lb/{backend}"])

    def list_lb_tables(self):
        return {b: v.get("servers") for b, v in self._plain("lb/").items()}

    def get_leader(self):
        value, revision = self._get("leader")
        return {**value, "epoch": revision} if value else None

    # --- etcd itself ---
    def health(self):
        """What a test set in ``etcd_health`` (a small, quiet etcd by default)."""
        return dict(self.etcd_health)

    members = [{"name": "m0", "id": "a1", "client_urls": ["http://127.0.0.1:2379"], "healthy": True,
                "leader": True, "db_size_bytes": 20480, "raft_term": 2}]

    def etcd_members(self):
        return copy.deepcopy(self.members)

    def move_etcd_leader(self, away_from):
        leader = next((m for m in self.members if m.get("leader")), None)
        target = next((m for m in sorted(self.members, key=lambda m: m["name"])
                       if m.get("healthy") and not m.get("leader")), None)
        if leader is None or leader["name"] != away_from or target is None:
            return None
        leader["leader"], target["leader"] = False, True
        return target["name"]

    # --- watch ---
    def wait_for_change(self, timeout):
        changed = self._changed.wait(timeout)
        self._changed.clear()
        return changed

    def wait_for_lb_change(self, timeout):
        time.sleep(timeout)
        return False

    def close(self):
        pass


CONTAINER_IDS = itertools.count(1)
"""Container ids, unique across every FakeHost (the first ten digits name a server)."""


class FakeHost:
    """A DockerHost stand-in: images, containers in memory, canned logs.

    It keeps containers the way the engine does (created, running, exited;
    an address when running), records every call in ``calls`` and raises
    ``fail[verb]`` (an exception) when a test asks a call to fail."""

    def __init__(self, images=(), logs=None, containers=(), network="cloud", name=""):
        self.name = name                                   # the host label of what it creates ("": none)
        self.images = set(images)
        self._logs = logs or {}
        self.containers = list(containers)
        self.network = network
        self.killed: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, Exception] = {}
        self.cpu: dict[str, int] = {}                      # container id → CPU ns (cpu_usage)

    def _call(self, verb, name):
        self.calls.append((verb, name))
        if verb in self.fail:
            raise self.fail[verb]

    def _find(self, name):
        for i, c in enumerate(self.containers):
            if c.name == name:
                return i, c
        raise NotFound(f"no container {name}")

    def image_exists(self, image):
        return image in self.images

    def list_workers(self):
        self._call("list", "")
        return sorted(self.containers, key=lambda c: c.name)

    def inspect(self, name):
        return self._find(name)[1]

    def logs(self, name, tail=100):
        return "\n".join(self._logs.get(name, "").splitlines()[-tail:])

    def cpu_usage(self, ids, timeout=None):
        return {i: self.cpu[c] for i in ids for c in self.cpu if c.startswith(i)}

    def create_worker(self, pod, node, app, image, command, port, cpus, memory_mb, env=None, *, gen,
                      security="default", pids_limit=512, epoch=0):
        name = container_name(pod, node, gen)
        self._call("create", name)
        cid = f"{next(CONTAINER_IDS):010x}".ljust(64, "0")
        c = Container(name, pod, node, app, "created", None, image, gen, id=cid, created=time.time(), epoch=epoch,
                      host=self.name)
        self.containers.append(c)
        return c

    def start(self, name):
        self._call("start", name)
        i, c = self._find(name)
        self.containers[i] = started = dataclasses.replace(c, state="running", ip=f"10.9.0.{i + 2}")
        return started

    def stop(self, name, timeout=10):
        self._call("stop", name)
        i, c = self._find(name)
        self.containers[i] = dataclasses.replace(c, state="exited", ip=None, exit_code=0)

    def pause(self, name):
        self._call("pause", name)
        i, c = self._find(name)
        self.containers[i] = dataclasses.replace(c, state="paused")

    def unpause(self, name):
        self._call("unpause", name)
        i, c = self._find(name)
        self.containers[i] = dataclasses.replace(c, state="running")

    def kill(self, name):
        self.killed.append(name)

    def remove(self, name):
        self._call("remove", name)
        before = len(self.containers)
        self.containers = [c for c in self.containers if c.name != name]
        return len(self.containers) < before


class FakeLink:
    """A HostLink stand-in: up or down, on a test's word."""

    def __init__(self, up=True, error="no route to host"):
        self.up, self.error = up, error

    def check_up(self):
        if not self.up:
            raise Unavailable(f"host is unreachable ({self.error})")


class FakeHosts:
    """A HostPool stand-in: the same FakeHost (and FakeLink) for every host name
    (records the names asked)."""

    def __init__(self, host: FakeHost, link: FakeLink | None = None):
        self.host = host
        self.link_ = link or FakeLink()
        self.asked: list[str] = []

    def get(self, host_name):
        self.asked.append(host_name)
        return self.host

    def link(self, host_name):
        return self.link_


class FakeHAProxy:
    """An HAProxy stand-in: backends and servers in memory, health set by the test.

    A server added is not healthy yet (``healthy=None``, as before its first
    check); ``check(backend, node, True)`` is its health check passing."""

    def __init__(self, backends=()):
        self.servers: dict[tuple[str, str], Server] = {}
        self._backends = set(backends)
        self.calls: list[tuple[str, str]] = []

    def show_servers(self):
        return sorted(self.servers.values(), key=lambda s: (s.backend, s.name))

    def backends(self):
        return set(self._backends)

    def backend_stats(self):
        return {}

    def add_server(self, backend, name, addr, port, admin="ready"):
        self.calls.append(("add", f"{backend}/{name}"))
        self.servers[(backend, name)] = Server(backend, name, addr, port, admin, None)

    def set_state(self, backend, name, admin):
        self.calls.append((admin, f"{backend}/{name}"))
        if (backend, name) not in self.servers:
            raise NotFound(f"no server {backend}/{name}")
        self.servers[(backend, name)] = dataclasses.replace(self.servers[(backend, name)], admin=admin)

    def wait_idle(self, backend, name, timeout=2.0):
        return True

    def del_server(self, backend, name, wait=3.0):
        self.calls.append(("del", f"{backend}/{name}"))
        self.servers.pop((backend, name), None)

    def configured_apps(self):
        return {}

    def settings_drift(self):
        return ""

    def apply_config(self, apps, servers_by_backend=None, wake=()):
        self._backends |= {f"app_{a.name}" for a in apps}
        return True

    def check(self, backend, node, healthy):
        """The health check of every server of ``node`` in ``backend`` passes (or fails)."""
        for key, s in list(self.servers.items()):
            if key[0] == backend and s.name.split(".")[0] == node:
                self.servers[key] = dataclasses.replace(s, healthy=healthy)


class Clock:
    """A clock a test moves by hand (``clock.now += 5``)."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class StubSampler:
    """A Sampler stand-in: answers every window with the sample a test sets (``next``)."""

    def __init__(self):
        self.next = None

    def sample(self):
        pass

    def window(self, app, seconds, desired):
        return self.next
