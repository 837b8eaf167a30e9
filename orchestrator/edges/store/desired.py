"""Pod and app records, with the guards that keep them consistent with the nodes.

The pod guard (etcd.py) makes two promises here:

- a pod is deleted only if its guard is unchanged since the pod was seen
  without nodes and without apps (creating an app in a pod writes the guard:
  ``put_app``, ``nodes.add(create_app=...)``), so no app or node is ever left
  in a deleted pod;
- an app is deleted only if its pod's guard is unchanged since the app was
  seen without nodes (adding a node writes the guard), so no node is ever
  left without its app (``nodes.remove(delete_app=...)``).

An app's route is reserved by a key of its own, in the same transactions
(routes.py); an update of an app is a compare-and-swap on the revision it
was read at (``App.revision``). Every write takes the event that tells of
it (events.py), written in the same transaction.

Reads return model objects or None (absence is not an error here); the use
cases turn None into NotFound with a message for the user.
"""
from __future__ import annotations

from orchestrator.core.errors import Conflict, NotFound, StaleCount
from orchestrator.core.model import App, Event, Pod
from orchestrator.edges.store import events, routes
from orchestrator.edges.store.etcd import RETRIES, Etcd, backoff
from orchestrator.edges.store.keys import decode_app, decode_pod

# ---------------------------------------------------------------- pods


def get_pod(etcd: Etcd, name: str) -> Pod | None:
    return etcd.get(f"pods/{name}", decode_pod)


def list_pods(etcd: Etcd) -> list[Pod]:
    return etcd.list("pods/", decode_pod)


def put_pod(etcd: Etcd, pod: Pod, create: bool, event: Event | None = None) -> Pod:
    """Create (Conflict if the name is taken) or update (NotFound if absent) a pod."""
    key = f"pods/{pod.name}"
    if not etcd.txn([etcd.absent(key) if create else etcd.exists(key)],
                    [etcd.put_op(key, pod.to_dict()), *events.ops(etcd, event)]):
        if create:
            raise Conflict(f"pod {pod.name!r} already exists; choose another name "
                           f"or remove it first (cloud pod rm {pod.name})")
        raise NotFound(f"pod {pod.name!r} does not exist; register it first")
    if event:
        events.written(etcd, etcd.max_events)
    return pod


def delete_pod(etcd: Etcd, name: str, event: Event | None = None) -> Pod:
    """Delete a pod that has no nodes and no apps, with what the controller
    observed of it. Conflict if it still has some, NotFound if absent."""
    for attempt in range(RETRIES):
        pod = get_pod(etcd, name)
        if pod is None:
            raise NotFound(f"pod {name!r} does not exist; see the pods with: cloud pod ls")
        count, pin = etcd.guard(name)          # read the guard BEFORE the apps
        if count:
            raise Conflict(f"pod {name!r} still has {count} node(s); remove them first "
                           f"(cloud rm NODE {name}, or stop their app)")
        apps = [a.name for a in list_apps(etcd) if a.pod == name]
        if apps:
            raise Conflict(f"pod {name!r} is used by app(s) {', '.join(apps)}; stop them first "
                           f"(cloud app stop {apps[0]})")
        if etcd.txn([etcd.exists(f"pods/{name}"), *pin],
                    [etcd.delete_op(f"pods/{name}"), etcd.delete_op(f"podcount/{name}"),
                     etcd.delete_prefix_op(f"observed/{name}/"), *events.ops(etcd, event)]):
            if event:
                events.written(etcd, etcd.max_events)
            return pod
        backoff(attempt)
    raise Conflict(f"pod {name!r} kept changing while it was being removed; try again")


# ---------------------------------------------------------------- apps

def get_app(etcd: Etcd, name: str) -> App | None:
    return etcd.get(f"apps/{name}", decode_app)


def list_apps(etcd: Etcd) -> list[App]:
    return etcd.list("apps/", decode_app)


def put_app(etcd: Etcd, app: App, create: bool, event: Event | None = None) -> App:
    """Create (Conflict if the name or the route is taken, NotFound if its pod
    is not there) or update (NotFound if absent; StaleCount if it changed
    since ``app.revision``, when given; Conflict if the new route is taken)
    an app. A new app writes its pod's guard, so it cannot land in a pod
    being deleted; its route is reserved in the same transaction (routes.py)."""
    if not create:
        return _update_app(etcd, app, event)
    key = f"apps/{app.name}"
    for attempt in range(RETRIES):
        count, pin = etcd.guard(app.pod)
        route_compare, route_writes = routes.claim(etcd, app)
        if etcd.txn([etcd.absent(key), etcd.exists(f"pods/{app.pod}"), *pin, *route_compare],
                    [etcd.put_op(key, app.to_dict()), etcd.write_guard(app.pod, count), *route_writes,
                     *events.ops(etcd, event)]):
            if event:
                events.written(etcd, etcd.max_events)
            return app
        if get_app(etcd, app.name) is not None:
            raise Conflict(f"app {app.name!r} already exists; choose another name, "
                           f"or scale it (cloud app scale {app.name} N)")
        if get_pod(etcd, app.pod) is None:
            raise NotFound(f"pod {app.pod!r} does not exist; register it first", "pod")
        refused = routes.taken(etcd, app)
        if refused:
            raise refused
        backoff(attempt)
    raise Conflict(f"pod {app.pod!r} kept changing while app {app.name!r} was created; try again")


def _update_app(etcd: Etcd, app: App, event: Event | None) -> App:
    """Write a changed app if its record is still the one read (``app.revision``;
    0: whatever it is now), moving its route reservation along."""
    key = f"apps/{app.name}"
    stored = get_app(etcd, app.name)
    if stored is None:
        raise NotFound(f"app {app.name!r} does not exist; deploy it first")
    if app.revision and stored.revision != app.revision:
        raise _changed(app)
    route_compare, route_writes = routes.move(etcd, stored, app)
    if etcd.txn([etcd.unchanged(key, stored.revision), *route_compare],
                [etcd.put_op(key, app.to_dict()), *route_writes, *events.ops(etcd, event)]):
        if event:
            events.written(etcd, etcd.max_events)
        return app
    refused = routes.taken(etcd, app)
    if refused:
        raise refused
    if get_app(etcd, app.name) is None:
        raise NotFound(f"app {app.name!r} does not exist (any more)")
    raise _changed(app)


def _changed(app: App) -> StaleCount:
    return StaleCount(f"app {app.name!r} changed while this request ran; look at it again and retry")
