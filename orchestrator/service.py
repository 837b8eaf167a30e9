"""Use cases: what the API (and so the `cloud` CLI) can ask the cluster to do.

Each method validates ALL of its input first, then writes desired state to
the store in as few transactions as possible (usually one), then records an
event. It never talks to Docker or HAProxy to change anything: the reconcile
controller notices the new desired state and makes it real. The only host
access is read-only: checking that an image exists before a deploy and
reading a node's logs.

Results are model objects or plain dicts, ready for `api.to_json`.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import Counter

from orchestrator.core import validate
from orchestrator.core.errors import Conflict, NotFound, SimpleCloudError, Unavailable, ValidationError
from orchestrator.core import observed as observed_views
from orchestrator.core.model import (BUILTIN_PODS, RUN_FIELDS, App, Node, NodeStatus, Pod, builtin_apps,
                                     spec_generation)
from orchestrator.autoscaling import Autoscaling
from orchestrator.edges.store import StaleCount

RETRIES = 10          # recomputations when a concurrent request changed the same pod
RECENT_EVENTS = 20    # events shown by status()


class Service:
    """The cluster's use cases over a `Store` (etcd or the in-memory fake)."""

    def __init__(self, store, settings, hosts=None):
        self.store = store
        self.settings = settings
        self.hosts = hosts      # HostPool-like: get(host_name) -> DockerHost; None skips host checks
        self.autoscaling = Autoscaling(store, self._event)

    # ------------------------------------------------------------------ cluster

    def init_cluster(self) -> dict:
        """Create the built-in pods and job apps that do not exist yet (idempotent)."""
        created: dict[str, list[str]] = {"pods": [], "apps": []}
        existing: dict[str, list[str]] = {"pods": [], "apps": []}
        for pod in BUILTIN_PODS.values():
            try:
                self.store.put_pod(pod, create=True)
                created["pods"].append(pod.name)
            except Conflict:
                existing["pods"].append(pod.name)
        for app in builtin_apps(self.settings.workers.job_image_prefix).values():
            try:
                self.store.put_app(dataclasses.replace(app, created=time.time()), create=True)
                created["apps"].append(app.name)
            except Conflict:
                existing["apps"].append(app.name)
        if created["pods"] or created["apps"]:
            self._event("cluster.init", "cluster",
                        f"created pods {_join(created['pods'])}; apps {_join(created['apps'])}")
        return {"pods": list(BUILTIN_PODS), "apps": list(builtin_apps()),
                "created": created, "existing": existing}

    def status(self) -> dict:
        """Pods with usage and reachability, apps with replicas, node counts by
        status and by phase, unreachable hosts in words, recent events."""
        nodes, observed = self.store.list_nodes(), self.store.list_observed()
        hosts = self.store.list_host_states()
        pods = self.store.list_pods()
        return {
            "pods": [self._pod_view(p, nodes, hosts, observed) for p in pods],
            "apps": [self._app_view(a, nodes, observed, pods) for a in self.store.list_apps()],
            "nodes": _by_status(nodes),
            "phases": _by_phase(nodes, observed),
            "hosts": hosts,
            "warnings": _host_warnings(pods, nodes, hosts),
            "events": self.store.events(RECENT_EVENTS),
        }

    # ------------------------------------------------------------------ pods

    def list_pods(self) -> list[dict]:
        """Every pod with `used`, `free` and node counts by status (`statuses`)."""
        nodes, hosts = self.store.list_nodes(), self.store.list_host_states()
        observed = self.store.list_observed()
        return [self._pod_view(p, nodes, hosts, observed) for p in self.store.list_pods()]

    def register_pod(self, name, host, max_nodes=None, cpus=None, memory_mb=None, app=None) -> Pod:
        """Register a pod of capacity on a pod host (missing sizes: schema.PodSpec's defaults)."""
        spec = {"name": name, "host": host, "app": app, "max_nodes": max_nodes, "cpus": cpus,
                "memory_mb": memory_mb}
        pod = validate.pod_spec({k: v for k, v in spec.items() if v is not None})
        if pod.app:
            default = self.store.get_app(pod.app)
            if default is not None and default.pod != pod.name:
                raise Conflict(f"app {pod.app!r} runs in pod {default.pod!r}, so it cannot "
                               f"be the default app of pod {pod.name!r}; name an app of "
                               f"this pod or leave app out", "app")
        self.store.put_pod(pod, create=True)
        self._event("pod.registered", f"pod/{pod.name}",
                    f"pod {pod.name} on {pod.host}: {pod.max_nodes} × {pod.cpus:g} CPU / {pod.memory_mb} MiB")
        return pod

    def remove_pod(self, name) -> Pod:
        """Remove an empty pod that no app runs in."""
        name = validate.name(name, "pod", "pod name")
        self._pod(name)
        pod = self.store.delete_pod(name)     # refuses a pod with nodes or apps, atomically
        self._event("pod.removed", f"pod/{name}", f"pod {name} removed")
        return pod

    def launch(self, pod) -> Node:
        """Move the oldest NEW node of the pod to ONLINE."""
        pod = self._pod(validate.name(pod, "pod", "pod name"))
        for _ in range(RETRIES):
            new = [n for n in self.store.list_nodes(pod.name) if n.status == NodeStatus.NEW]
            if not new:
                raise Conflict(f"pod {pod.name} has no NEW node; register one with: "
                               f"cloud register NODE {pod.name}")
            try:
                node = self.store.update_node(dataclasses.replace(new[0], status=NodeStatus.ONLINE))
            except (Conflict, NotFound):
                continue            # another request launched or removed it: take the next one
            self._event("node.launched", f"{pod.name}/{node.name}", f"node {node.name} is ONLINE")
            return node
        raise Conflict(f"pod {pod.name!r} kept changing during launch; try again")

    def pause(self, pod) -> list[Node]:
        """Every ONLINE node of the pod becomes PAUSED (drained from HAProxy)."""
        return self._move_all(pod, NodeStatus.ONLINE, NodeStatus.PAUSED, "paused")

    def resume(self, pod) -> list[Node]:
        """Every PAUSED node of the pod becomes ONLINE again."""
        return self._move_all(pod, NodeStatus.PAUSED, NodeStatus.ONLINE, "resumed")

    def _move_all(self, pod, source: NodeStatus, target: NodeStatus, verb: str) -> list[Node]:
        pod = self._pod(validate.name(pod, "pod", "pod name"))
        moved: list[Node] = []
        for _ in range(RETRIES):
            chosen = [dataclasses.replace(n, status=target)
                      for n in self.store.list_nodes(pod.name) if n.status == source]
            try:
                moved += self.store.update_nodes(chosen)
            except (Conflict, NotFound) as exc:
                moved += getattr(exc, "done", [])   # batches before the change stay done
                continue            # someone changed one of them: re-read and redo the rest
            if moved:
                self._event(f"pod.{verb}", f"pod/{pod.name}",
                            f"{len(moved)} node(s) {verb}: {_join(n.name for n in moved)}")
            return moved
        raise Conflict(f"pod {pod.name!r} kept changing; try again")

    # ------------------------------------------------------------------ nodes

    def list_nodes(self, pod=None) -> list[dict]:
        """Nodes (of one pod or all), each with its desired ``status`` and what
        the controller last saw (``observed``: phase, container, health, host,
        IP, restarts, since when, last error; None before its first look)."""
        if pod is not None:
            self._pod(validate.name(pod, "pod", "pod name"))
        observed = self.store.list_observed()
        return [_node_view(n, observed) for n in self.store.list_nodes(pod)]

    def register_node(self, name, pod, app=None) -> Node:
        """Add one NEW node (container created, not started) running `app` or the pod's app."""
        name = validate.name(name, "name", "node name")
        pod = self._pod(validate.name(pod, "pod", "pod name"))
        app_name = app if app not in (None, "") else pod.app
        if not app_name:
            raise Conflict(f"pod {pod.name!r} has no default app; name one: "
                           f"cloud register {name} {pod.name} --app APP", "app")
        the_app = self._app(validate.name(app_name, "app", "app name"))
        if the_app.pod != pod.name:
            raise Conflict(f"app {the_app.name!r} runs in pod {the_app.pod!r}, not "
                           f"{pod.name!r}; register the node in pod {the_app.pod!r} "
                           f"or choose an app of pod {pod.name!r}", "app")
        (node,) = self.store.add_nodes(pod.name, [Node(name, pod.name, the_app.name, NodeStatus.NEW,
                                                       created=time.time())])
        self._event("node.registered", f"{pod.name}/{name}",
                    f"node {name} registered in pod {pod.name} (app {the_app.name}), status NEW")
        return node

    def remove_node(self, name, pod) -> Node:
        name = validate.name(name, "name", "node name")
        pod = self._pod(validate.name(pod, "pod", "pod name"))
        (node,) = self.store.remove_nodes(pod.name, [name])
        self._event("node.removed", f"{pod.name}/{name}", f"node {name} removed from pod {pod.name}")
        return node

    def logs(self, node, pod=None, tail: int = 100) -> dict:
        """The last `tail` lines of a node's container log."""
        node = validate.name(node, "node", "node name")
        if pod is None:
            pods = sorted({n.pod for n in self.store.list_nodes() if n.name == node})
            if not pods:
                raise NotFound(f"no node named {node!r} in any pod; see: cloud node ls")
            if len(pods) > 1:
                raise ValidationError("pod", f"node {node!r} exists in pods {', '.join(pods)}; name the pod")
            pod = pods[0]
        the_pod = self._pod(validate.name(pod, "pod", "pod name"))
        if self.store.get_node(the_pod.name, node) is None:
            raise NotFound(f"node {node!r} does not exist in pod {the_pod.name!r}; see: cloud node ls {the_pod.name}")
        name = self._container_of(the_pod, node)
        text = self._on_host(the_pod, lambda host: host.logs(name, tail=tail))
        return {"pod": the_pod.name, "node": node, "container": name, "logs": text}

    def crash_node(self, node, pod) -> dict:
        """Kill a node's worker container (SIGKILL), for demos and fault tests.

        Desired state is not touched: the controller sees the container die and
        replaces it, exactly as after a real crash."""
        node = validate.name(node, "node", "node name")
        the_pod = self._pod(validate.name(pod, "pod", "pod name"))
        if self.store.get_node(the_pod.name, node) is None:
            raise NotFound(f"node {node!r} does not exist in pod {the_pod.name!r}; see: cloud node ls {the_pod.name}")
        name = self._container_of(the_pod, node, running=True)
        self._on_host(the_pod, lambda host: host.kill(name))
        self._event("node.crashed", f"{the_pod.name}/{node}",
                    f"node {node}: container {name} killed on request (cloud node crash)")
        return {"pod": the_pod.name, "node": node, "container": name, "killed": True}

    def _container_of(self, pod: Pod, node: str, running: bool = False) -> str:
        """Name of the newest container of a node on its host."""
        if self.hosts is None:
            raise Unavailable("this manager has no access to the pod hosts")
        found = self._on_host(pod, lambda host: host.list_workers())
        mine = sorted((c for c in found if c.pod == pod.name and c.node == node
                       and (c.state == "running" or not running)), key=lambda c: c.created)
        if not mine:
            what = "running container" if running else "container"
            raise Conflict(f"node {node!r} of pod {pod.name!r} has no {what} right now; "
                           f"see: cloud node ls {pod.name}")
        return mine[-1].name

    # ------------------------------------------------------------------ apps

    def list_apps(self) -> list[dict]:
        """Every app with `replicas`, node counts by status (`statuses`) and
        how many of its nodes serve (`serving`)."""
        nodes, observed, pods = self.store.list_nodes(), self.store.list_observed(), self.store.list_pods()
        autoscaled = self.autoscaling.views()
        return [{**self._app_view(a, nodes, observed, pods), "autoscale": autoscaled.get(a.name)}
                for a in self.store.list_apps()]

    def get_app(self, name) -> dict:
        """One app with its replica count and its nodes (desired and observed)."""
        app = self._app(validate.name(name, "name", "app name"))
        nodes = [n for n in self.store.list_nodes(app.pod) if n.app == app.name]
        observed = self.store.list_observed()
        return {**self._app_view(app, nodes, observed, [self._pod(app.pod)]),
                "autoscale": self.autoscaling.views().get(app.name),
                "nodes": [_node_view(n, observed) for n in nodes]}

    def deploy_app(self, spec: dict) -> dict:
        """Create an app and its `replicas` ONLINE nodes, all in one transaction."""
        app, replicas = validate.app_spec(spec)
        pod = self._pod(app.pod, field="pod")
        validate.limits_fit(app, pod)
        if self.store.get_app(app.name) is not None:
            raise Conflict(f"app {app.name!r} already exists; choose another name, "
                           f"or scale it (cloud app scale {app.name} N)")
        self._check_route_free(app)
        validate.capacity(pod, self.store.pod_node_count(pod.name), replicas)
        self._check_image(pod, app)
        for _ in range(RETRIES):
            count = self.store.pod_node_count(pod.name)
            nodes = self._new_replicas(app, self.store.list_nodes(pod.name), replicas)
            try:
                stored = self.store.add_nodes(pod.name, nodes, create_app=app, expect_count=count)
                break
            except StaleCount as exc:
                if exc.done:        # the app and its first batch are in: the rest is a scale
                    self._scale_to(app, pod, replicas)
                    stored = [n for n in self.store.list_nodes(pod.name) if n.app == app.name]
                    break
        else:
            raise Conflict(f"pod {pod.name!r} kept changing during the deploy; try again")
        what = " ".join(app.command) if app.command else app.image
        self._event("app.deployed", f"app/{app.name}",
                    f"app {app.name} ({what}) deployed in pod {pod.name} with {replicas} replica(s)")
        return {**self._app_view(app, stored), "nodes": [n.to_dict() for n in stored]}

    def scale_app(self, name, replicas) -> dict:
        """Set the number of nodes of an app: add ONLINE nodes or remove the newest
        ones. An autoscaled app stays within its [min, max]; ``note`` says so."""
        app = self._app(validate.name(name, "name", "app name"))
        replicas, note = self.autoscaling.clamp(app.name, validate.replicas(replicas))
        before = self._scale_to(app, self._pod(app.pod), replicas)
        if before != replicas:
            self._event("app.scaled", f"app/{app.name}",
                        f"app {app.name} scaled from {before} to {replicas} replica(s)")
        return {**self.get_app(app.name), "note": note} if note else self.get_app(app.name)

    def scale_to(self, app: App, replicas: int) -> int:
        """The autoscaler's scale (its decision is its own event); returns the
        replicas before. CapacityError if the pod has no room for them all."""
        return self._scale_to(app, self._pod(app.pod), replicas)

    def _scale_to(self, app: App, pod: Pod, replicas: int) -> int:
        """Add or remove nodes until the app has ``replicas``; returns how many
        it had. A change too big for one etcd transaction is made in batches;
        if another request changes the pod in between, the rest is recomputed."""
        before = None
        for _ in range(RETRIES):
            count = self.store.pod_node_count(pod.name)      # read BEFORE the nodes (see add_nodes)
            pod_nodes = self.store.list_nodes(pod.name)
            mine = [n for n in pod_nodes if n.app == app.name]
            before = len(mine) if before is None else before
            diff = replicas - len(mine)
            try:
                if diff > 0:
                    validate.capacity(pod, count, diff)
                    self.store.add_nodes(pod.name, self._new_replicas(app, pod_nodes, diff),
                                         expect_count=count)
                elif diff < 0:
                    newest = sorted(mine, key=lambda n: (n.created, n.name))[diff:]
                    self.store.remove_nodes(pod.name, [n.name for n in newest], expect_count=count)
            except StaleCount:
                continue
            except NotFound:
                self._app(app.name)     # the app itself was stopped meanwhile: say so
                continue                # else one of the newest nodes vanished: recompute
            return before
        raise Conflict(f"pod {pod.name!r} kept changing during the scale; try again")

    def update_app(self, name, changes: dict) -> dict:
        """Change an app in place. A new image, command, port or limits make the
        controller replace its workers one node at a time (each new worker
        serving before an old one drains); a new route, balance algorithm or
        health path re-renders haproxy.cfg and reloads HAProxy hitlessly."""
        app = self._app(validate.name(name, "name", "app name"))
        if not isinstance(changes, dict):
            raise ValidationError(None, "the update must be a JSON object of the fields to change")
        updated = validate.app_update(app, changes)
        pod = self._pod(app.pod)
        validate.limits_fit(updated, pod)
        if updated == app:
            return {**self.get_app(app.name), "changed": []}
        if (updated.path, updated.host) != (app.path, app.host):
            self._check_route_free(updated, ignore=app.name)
        if (updated.image, updated.command) != (app.image, app.command):
            self._check_image(pod, updated)
        changed = [f for f in validate.UPDATE_FIELDS if getattr(updated, f) != getattr(app, f)]
        self.store.put_app(updated, create=False)
        rolling = [f for f in changed if f in RUN_FIELDS]
        how = ("its nodes are replaced one at a time" if rolling else
               "HAProxy reloads with the new route settings")
        self._event("app.updated", f"app/{app.name}",
                    f"app {app.name} updated: {', '.join(changed)}; {how}")
        return {**self.get_app(app.name), "changed": changed}

    def stop_app(self, name) -> dict:
        """Remove an app and all its nodes in one transaction."""
        app = self._app(validate.name(name, "name", "app name"))
        removed: list[Node] = []
        for _ in range(RETRIES):
            count = self.store.pod_node_count(app.pod)      # read BEFORE the nodes (see add_nodes)
            mine = [n for n in self.store.list_nodes(app.pod) if n.app == app.name]
            try:
                removed += self.store.remove_nodes(app.pod, [n.name for n in mine], delete_app=app.name,
                                                   expect_count=count)
                break
            except StaleCount as exc:
                removed += exc.done     # a batch went through: the rest is recomputed
                continue
        else:
            raise Conflict(f"pod {app.pod!r} kept changing while stopping {app.name!r}; try again")
        self.store.put_autoscale(app.name, None)
        self._event("app.stopped", f"app/{app.name}",
                    f"app {app.name} stopped; removed {len(removed)} node(s)")
        return {**app.to_dict(), "replicas": 0, "removed": [n.to_dict() for n in removed]}

    # ------------------------------------------------------------------ helpers

    def _pod(self, name: str, field: str = "pod") -> Pod:
        pod = self.store.get_pod(name)
        if pod is None:
            raise NotFound(f"pod {name!r} does not exist; see the pods with: cloud pod ls", field)
        return pod

    def _app(self, name: str) -> App:
        app = self.store.get_app(name)
        if app is None:
            raise NotFound(f"app {name!r} does not exist; see the apps with: cloud app ls")
        return app

    def _check_route_free(self, app: App, ignore: str | None = None) -> None:
        for other in self.store.list_apps():
            if other.name == ignore:
                continue
            if app.path and other.path == app.path and (other.host or None) == (app.host or None):
                raise Conflict(f"path {app.path!r} is already the route of app {other.name!r}; "
                               f"choose another path", "path")
            if app.host and not app.path and other.host == app.host and not other.path:
                raise Conflict(f"host {app.host!r} is already the route of app {other.name!r}; "
                               f"choose another host", "host")

    def _check_image(self, pod: Pod, app: App) -> None:
        if self.hosts is None:
            return
        image = app.run_image
        if not self._on_host(pod, lambda host: host.image_exists(image)):
            raise Conflict(f"image {image!r} does not exist on host {pod.host} (pod {pod.name}); "
                           f"build or push it there first, or choose another image",
                           "image" if app.image else "command")

    def _on_host(self, pod: Pod, action):
        try:
            return action(self.hosts.get(pod.host))
        except SimpleCloudError:
            raise
        except Exception as exc:   # docker/ssh failures: the host is not usable right now
            raise Unavailable(f"cannot reach host {pod.host} of pod {pod.name}: {exc}") from exc

    @staticmethod
    def _new_replicas(app: App, pod_nodes: list[Node], count: int) -> list[Node]:
        """`count` ONLINE nodes named <app>-<n>, numbered after the highest existing n."""
        pattern = re.compile(rf"^{re.escape(app.name)}-(\d+)$")
        taken = [int(m.group(1)) for n in pod_nodes if (m := pattern.match(n.name))]
        start = max(taken, default=0) + 1
        now = time.time()
        return [Node(f"{app.name}-{start + i}", app.pod, app.name, NodeStatus.ONLINE,
                     created=now + i * 1e-6) for i in range(count)]

    @staticmethod
    def _pod_view(pod: Pod, all_nodes: list[Node], hosts: dict | None = None,
                  observed: dict | None = None) -> dict:
        nodes = [n for n in all_nodes if n.pod == pod.name]
        return {**pod.to_dict(), "used": len(nodes), "free": max(0, pod.max_nodes - len(nodes)),
                "statuses": _by_status(nodes), "phases": _by_phase(nodes, observed or {}),
                "host_state": (hosts or {}).get(pod.host)}

    @staticmethod
    def _app_view(app: App, all_nodes: list[Node], observed: dict | None = None,
                  pods: list[Pod] = ()) -> dict:
        """An app with its replicas and, from the observed records: phases, how
        many nodes serve its *current* spec (its pod is among ``pods``), and how
        many still run an older one."""
        nodes = [n for n in all_nodes if n.app == app.name and n.pod == app.pod]
        live = [n for n in nodes if n.status != NodeStatus.REMOVED]
        views = [_observed_of(n, observed or {}) or {} for n in live]
        pod = next((p for p in pods if p.name == app.pod), None)
        gen = spec_generation(app, pod) if pod is not None else None
        current = [v for v in views if v.get("gen") == gen and not v.get("updating")]
        return {**app.to_dict(), "replicas": len(live), "statuses": _by_status(nodes),
                "phases": _by_phase(live, observed or {}),
                "serving": sum(1 for v in current if v.get("phase") == "serving"),
                "updating": len(views) - len(current)}

    def _event(self, kind: str, subject: str, message: str) -> None:
        self.store.record_event(kind, subject, message)


def _observed_of(node: Node, observed: dict) -> dict | None:
    return observed_views.current(observed.get((node.pod, node.name)), node)


def _node_view(node: Node, observed: dict) -> dict:
    view = _observed_of(node, observed)
    if view is not None:
        view = {k: v for k, v in view.items() if k not in ("health", "node_created")}
    return {**node.to_dict(), "observed": view}


def _by_phase(nodes, observed: dict) -> dict[str, int]:
    counts = Counter((_observed_of(n, observed) or {}).get("phase", "unknown") for n in nodes)
    return dict(sorted(counts.items()))


def _host_warnings(pods: list[Pod], nodes: list[Node], hosts: dict) -> list[str]:
    """One plain sentence per pod host that does not answer."""
    out = []
    for host, state in sorted(hosts.items()):
        if state.get("reachable", True):
            continue
        mine = [p.name for p in pods if p.host == host]
        if not mine:
            continue
        count = sum(1 for n in nodes if n.pod in mine)
        since = time.strftime("%H:%M:%S", time.localtime(state.get("since") or 0))
        out.append(f"host {host} is unreachable since {since} ({state.get('error') or 'no answer'}): "
                   f"the {count} node(s) of pod(s) {', '.join(mine)} are not managed until it "
                   f"answers again; their last known state is shown, nothing is lost, and the "
                   f"other pods work as usual")
    return out


def _by_status(nodes) -> dict[str, int]:
    counts = Counter(str(n.status) for n in nodes)
    return {s.value: counts[s.value] for s in NodeStatus if counts[s.value]}


def _join(names) -> str:
    return ", ".join(names) or "none"
