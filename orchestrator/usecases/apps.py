"""Apps: deploy, scale, update and stop them; what the API shows of them.

Each change reads what it needs once (the pod, the apps, the pod's node count
and then its nodes, the pool of its hosts), asks the core what to write
(``validate`` for the checks, ``scaling.plan_scale`` for the nodes and their
hosts: core/placement.py), and writes it in one store transaction
that holds only if the pod's count is still the one it read; if another
request changed the pod meanwhile (``StaleCount``) it reads and decides again.
A change too big for one transaction is made in batches by the store, each a
valid state (edges/store/nodes.py).

``scale_to`` is also what the autoscaler and the waker scale with. An app's
warm pool (``App.warm``) is kept by the same plan: a scale-out promotes warm
nodes first, a scale-in turns serving nodes warm while the pool is short,
each in the same transaction as the rest of the change; ``fill_pool`` is
what refills a pool a scale-out used, later (control/warm_pools.py).
"""
from __future__ import annotations

import builtins
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from orchestrator.core import autoscale, scaling, validate, views
from orchestrator.core.errors import Conflict, NotFound, StaleCount
from orchestrator.core.model import RUN_FIELDS, App, Event, Node, Pod
from orchestrator.core.schema import AppSpec, AppUpdate
from orchestrator.edges.protocols import HostsProtocol, StoreProtocol
from orchestrator.usecases.hosts import check_image
from orchestrator.usecases.records import RETRIES, app_or_404, pod_or_404, pool_for


class Apps:
    """The apps of the cluster (``/api/apps``)."""

    def __init__(self, store: StoreProtocol, hosts: HostsProtocol | None = None):
        """``hosts``: the pod hosts, to check that an image is there (None: no check)."""
        self.store = store
        self.hosts = hosts

    # ------------------------------------------------------------------ reads
    def list(self) -> builtins.list[dict[str, Any]]:
        """Every app with ``replicas``, node counts by status, how many of its
        nodes serve (``serving``) and its autoscale policy."""
        nodes, observed, pods = self.store.list_nodes(), self.store.list_observed(), self.store.list_pods()
        autoscaled = self._autoscale_views()
        return [{**views.app_view(a, nodes, observed, pods), "autoscale": autoscaled.get(a.name)}
                for a in self.store.list_apps()]

    def get(self, name: str) -> dict[str, Any]:
        """One app with its replica count and its nodes (desired and observed)."""
        app = app_or_404(self.store, name)
        nodes = [n for n in self.store.list_nodes(app.pod) if n.app == app.name]
        observed = self.store.list_observed()
        return {**views.app_view(app, nodes, observed, [pod_or_404(self.store, app.pod)]),
                "autoscale": self._autoscale_views().get(app.name),
                "nodes": [views.node_view(n, observed) for n in nodes]}

    def _autoscale_views(self) -> dict[str, dict[str, Any]]:
        memory = self.store.list_autoscale_states()
        return {app: views.autoscale_view(policy, memory.get(app))
                for app, policy in self.store.list_autoscale().items()}

    # ------------------------------------------------------------------ changes
    def deploy(self, spec: AppSpec) -> dict[str, Any]:
        """Create an app, its ``replicas`` ONLINE nodes and its ``warm`` ones, all in
        one transaction (CapacityError if they do not all fit)."""
        app = validate.app_of(spec, created=time.time())
        pod = pod_or_404(self.store, app.pod)
        validate.limits_fit(app, pod)
        apps = self.store.list_apps()
        if any(a.name == app.name for a in apps):
            raise Conflict(f"app {app.name!r} already exists; choose another name, "
                           f"or scale it (cloud app scale {app.name} N)")
        validate.route_free(app, apps)
        what = " ".join(app.command) if app.command else app.image
        warm = f" and {app.warm} warm node(s)" if app.warm else ""
        event = Event.now("app.deployed", f"app/{app.name}", f"app {app.name} ({what}) deployed in pod "
                                                             f"{pod.name} with {spec.replicas} replica(s){warm}")
        stored = self._create(app, pod, spec.replicas, event)
        return {**views.app_view(app, stored), "nodes": [n.to_dict() for n in stored]}

    def _create(self, app: App, pod: Pod, replicas: int, event: Event) -> builtins.list[Node]:
        image_checked = False
        for _ in range(RETRIES):
            count = self.store.pod_node_count(pod.name)        # read BEFORE the nodes (the guard)
            pod_nodes = self.store.list_nodes(pod.name)
            pool = pool_for(self.store, pod, pod_nodes)
            nodes = scaling.placed_replicas(app, pod, pod_nodes, pool, replicas, time.time(), warm=app.warm)
            if not image_checked:
                check_image(self.hosts, pod, app, sorted({n.host for n in nodes}))
                image_checked = True
            try:
                return self.store.add_nodes(pod.name, nodes, create_app=app, expect_count=count, event=event)
            except StaleCount as exc:
                if exc.done:        # the app and its first batch are in: the rest is a scale
                    self._scale_to(app, pod, replicas)
                    return [n for n in self.store.list_nodes(pod.name) if n.app == app.name]
        raise Conflict(f"pod {pod.name!r} kept changing during the deploy; try again")

    def scale(self, name: str, replicas: int) -> dict[str, Any]:
        """Set the number of nodes of an app: add ONLINE nodes or remove the newest
        ones. An autoscaled app stays within its [min, max]; ``note`` says so."""
        app = app_or_404(self.store, name)
        note = ""
        policy = self.store.get_autoscale(app.name)
        if policy is not None:
            replicas, note = autoscale.clamp_manual(policy, replicas, app.name)
            note = f"{note} (cloud app autoscale {app.name} --off to scale by hand)" if note else ""
        self._scale_to(app, pod_or_404(self.store, app.pod), replicas, lambda before: Event.now(
            "app.scaled", f"app/{app.name}", f"app {app.name} scaled from {before} to {replicas} replica(s)"))
        return {**self.get(app.name), "note": note} if note else self.get(app.name)

    def scale_to(self, app: App, replicas: int, message: str = "") -> int:
        """The autoscaler's and the waker's scale; returns the replicas before.
        ``message``: their event (kind "autoscale"), written with the change
        when there is one. CapacityError (saying how full each host is) if the
        pod's hosts have no room for them all."""
        before, _ = self._scale_to(app, pod_or_404(self.store, app.pod), replicas,
                                   lambda _: Event.now("autoscale", f"app/{app.name}", message) if message else None)
        return before

    def fill_pool(self, app: App, at_most: int | None = None) -> int:
        """The warm pool refilled (control/warm_pools.py): warm nodes added, as
        many as fit and ``at_most`` (None: all it lacks), the serving ones left
        as they are; returns how many."""
        pod = pod_or_404(self.store, app.pod)
        if at_most is not None:                  # a pool of what it has plus at_most: nothing trimmed
            have = sum(1 for n in self.store.list_nodes(pod.name) if n.app == app.name and n.warm)
            app = dataclasses.replace(app, warm=min(app.warm, have + at_most))
        _, plan = self._scale_to(app, pod, None)
        return len(plan.add)

    def _scale_to(self, app: App, pod: Pod, replicas: int | None,
                  event: Callable[[int], Event | None] = lambda before: None) -> tuple[int, scaling.ScalePlan]:
        """Read, plan, write until the app has ``replicas`` (None: the serving
        nodes it has when the write lands, its warm pool resized); returns how
        many it had and the plan that landed. ``event(before)``: what to write
        with the change (none if the replicas do not change)."""
        before = None
        for _ in range(RETRIES):
            count = self.store.pod_node_count(pod.name)      # read BEFORE the nodes (the guard)
            pod_nodes = self.store.list_nodes(pod.name)
            want = len(scaling.serving_nodes(pod_nodes, app.name)) if replicas is None else replicas
            plan = scaling.plan_scale(app, pod, pod_nodes, pool_for(self.store, pod, pod_nodes), want,
                                      time.time(), ready=self._warm_ready(app, pod_nodes))
            before = plan.before if before is None else before
            said = event(before) if before != want else None
            try:
                if plan.remove:
                    self.store.remove_nodes(pod.name, plan.remove, expect_count=count, event=said,
                                            update=plan.update)
                elif plan:
                    self.store.add_nodes(pod.name, plan.add, expect_count=count, event=said, update=plan.update)
            except StaleCount:
                continue
            except NotFound:
                app_or_404(self.store, app.name)   # the app itself was stopped meanwhile: say so
                continue                           # else one of the newest nodes vanished: recompute
            return before, plan
        raise Conflict(f"pod {pod.name!r} kept changing during the scale; try again")

    def _warm_ready(self, app: App, pod_nodes: builtins.list[Node]) -> set[str]:
        """The app's warm nodes seen warm and healthy (promoted before the others)."""
        if not any(n.app == app.name and n.warm for n in pod_nodes):
            return set()
        observed = self.store.list_observed()
        return {n.name for n in pod_nodes if n.app == app.name and n.warm
                and (views.observed_of(n, observed) or {}).get("phase") == "warm"}

    def update(self, name: str, changes: AppUpdate) -> dict[str, Any]:
        """Change an app in place. A new image, command, port or limits make the
        controller replace its workers one node at a time (each new worker
        serving before an old one drains); a new route, balance algorithm or
        health path re-renders haproxy.cfg and reloads HAProxy hitlessly.

        A compare-and-swap on the app's revision: when another request changed
        the app meanwhile, the change is made again on what it is now; when
        the app was stopped and deployed again meanwhile (another incarnation,
        perhaps in another pod), Conflict."""
        first = app_or_404(self.store, name)
        image_checked = None
        for _ in range(RETRIES):
            app = app_or_404(self.store, name)
            if app.created_revision != first.created_revision:
                raise Conflict(f"app {name!r} was stopped and deployed again while this request ran; "
                               f"look at it again (cloud app show {name}) and retry")
            new = validate.updated(app, changes)
            pod = pod_or_404(self.store, app.pod)
            validate.limits_fit(new, pod)
            if new == app:
                return {**self.get(app.name), "changed": []}
            if (new.path, new.host) != (app.path, app.host):
                validate.route_free(new, self.store.list_apps(), ignore=app.name)
            if (new.image, new.command) != (app.image, app.command) and image_checked != (new.image, new.command):
                check_image(self.hosts, pod, new, sorted({n.host for n in self.store.list_nodes(pod.name)
                                                          if n.app == app.name and n.host}))
                image_checked = (new.image, new.command)
            if new.warm > app.warm:
                self._pool_fits(new, pod)
            changed = [f for f in validate.UPDATE_FIELDS if getattr(new, f) != getattr(app, f)]
            how = ("its nodes are replaced one at a time" if any(f in RUN_FIELDS for f in changed) else
                   "its warm pool is resized" if changed == ["warm"] else
                   "HAProxy reloads with the new route settings")
            try:
                self.store.put_app(new, create=False, event=Event.now(
                    "app.updated", f"app/{app.name}", f"app {app.name} updated: {', '.join(changed)}; {how}"))
            except StaleCount:
                continue
            if new.warm != app.warm:            # the pool follows (the serving nodes stay as they are)
                self._scale_to(new, pod, None)
            return {**self.get(app.name), "changed": changed}
        raise Conflict(f"app {name!r} kept changing during the update; try again")

    def _pool_fits(self, app: App, pod: Pod) -> None:
        """CapacityError (before anything is written) if the pod has no room for
        ``app``'s warm pool as it is now."""
        pod_nodes = self.store.list_nodes(pod.name)
        short = app.warm - sum(1 for n in pod_nodes if n.app == app.name and n.warm)
        if short > 0:
            scaling.placed_replicas(app, pod, pod_nodes, pool_for(self.store, pod, pod_nodes), 0, time.time(),
                                    warm=short)

    def stop(self, name: str) -> dict[str, Any]:
        """Remove an app and all its nodes in one transaction (batches if many),
        with its route, its autoscale policy and the autoscaler's memory of it."""
        app = app_or_404(self.store, name)
        removed: builtins.list[Node] = []
        for _ in range(RETRIES):
            count = self.store.pod_node_count(app.pod)      # read BEFORE the nodes (the guard)
            mine = [n.name for n in self.store.list_nodes(app.pod) if n.app == app.name]
            event = Event.now("app.stopped", f"app/{app.name}",
                              f"app {app.name} stopped; removed {len(removed) + len(mine)} node(s)")
            try:
                removed += self.store.remove_nodes(app.pod, mine, delete_app=app.name, expect_count=count,
                                                   event=event)
                break
            except StaleCount as exc:
                removed += exc.done     # a batch went through: the rest is recomputed
        else:
            raise Conflict(f"pod {app.pod!r} kept changing while stopping {app.name!r}; try again")
        return {**app.to_dict(), "replicas": 0, "removed": [n.to_dict() for n in removed]}
