"""The planner: desired state + observed state → the actions that close the gap.

A purely computational function, no I/O: ``controller.py`` observes (etcd,
the pod hosts, HAProxy), calls ``plan`` and executes what it returns. The
same inputs always give the same actions, and **an empty plan means in
sync**. Because every pass re-reads everything (level-triggered), an action
that fails or is lost is simply planned again next pass.

What each desired node status asks for (docs/orchestrator.md):

=========  ===========================  ================================
status     container                    HAProxy server in app_<app>
=========  ===========================  ================================
NEW        exists, not running          absent
ONLINE     running                      present, ``ready``
PAUSED     running                      present, ``drain`` then ``maint``
FAILED     recreated and started        re-added; node marked ONLINE
(gone)     stopped and removed          drained and deleted
=========  ===========================  ================================

An ONLINE node whose container exited or died is marked FAILED (with the
reason), its server is deleted, and its container removed, recreated and
started; the next pass sees FAILED + running and brings it back ONLINE.
A PAUSED node whose container died is recreated the same way but stays
PAUSED (its server comes back in ``maint``).

Actions are ordered by phase so that (1) a server never points at a
container that is not running — servers are added only for running
containers, after everything is started — and (2) a container is never
stopped or removed while its server takes traffic — servers are drained and
deleted first. The phases: mark failures, take servers out, stop/remove
containers, reload the config, create/start containers, put servers in,
mark recoveries.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from orchestrator.core.model import App, Container, Node, NodeStatus, Pod, Server, backend_name, container_name

ROUTING_FIELDS = ("path", "host", "balance", "health_path", "strip_path")
"""App fields baked into haproxy.cfg; a change in any of them needs a reload."""

DEAD_STATES = ("exited", "dead")
"""Docker states of a container whose process has ended."""


# ---------------------------------------------------------------- actions

@dataclass(frozen=True)
class MarkNode:
    pod: str
    node: str
    status: NodeStatus
    reason: str


@dataclass(frozen=True)
class SetServerState:
    backend: str
    node: str
    admin: str           # ready | drain | maint


@dataclass(frozen=True)
class DelServer:
    backend: str
    node: str


@dataclass(frozen=True)
class StopContainer:
    pod: str             # the pod whose host runs it (if the controller did not see it elsewhere)
    name: str


@dataclass(frozen=True)
class RemoveContainer:
    pod: str
    name: str
    reason: str = ""


@dataclass(frozen=True)
class ReloadConfig:
    reason: str


@dataclass(frozen=True)
class CreateContainer:
    pod: str
    node: str
    app: str


@dataclass(frozen=True)
class StartContainer:
    pod: str
    name: str


@dataclass(frozen=True)
class AddServer:
    backend: str
    node: str
    addr: str
    port: int
    admin: str = "ready"  # state it enters service in (PAUSED nodes come back in maint)


Action = (MarkNode | SetServerState | DelServer | StopContainer | RemoveContainer
          | ReloadConfig | CreateContainer | StartContainer | AddServer)

_PHASE = {
    MarkNode: 0,          # failures first (recoveries are re-phased to the end)
    SetServerState: 1, DelServer: 1,
    StopContainer: 2, RemoveContainer: 3,
    ReloadConfig: 4,
    CreateContainer: 5, StartContainer: 6,
    AddServer: 7,
}


def phase_of(action: Action) -> int:
    if isinstance(action, SetServerState) and action.admin == "ready":
        return 7
    if isinstance(action, MarkNode) and action.status != NodeStatus.FAILED:
        return 8
    return _PHASE[type(action)]


def describe(action: Action) -> str:
    """One line for logs and events, e.g. "add server app_web/n1 at 10.0.0.2:80"."""
    match action:
        case MarkNode(pod, node, status, reason):
            return f"mark node {pod}/{node} {status}: {reason}"
        case SetServerState(backend, node, admin):
            return f"set server {backend}/{node} {admin}"
        case DelServer(backend, node):
            return f"delete server {backend}/{node}"
        case StopContainer(_, name):
            return f"stop container {name}"
        case RemoveContainer(_, name, reason):
            return f"remove container {name}" + (f" ({reason})" if reason else "")
        case ReloadConfig(reason):
            return f"reload HAProxy config: {reason}"
        case CreateContainer(pod, node, app):
            return f"create container {container_name(pod, node)} for app {app}"
        case StartContainer(_, name):
            return f"start container {name}"
        case AddServer(backend, node, addr, port, admin):
            return f"add server {backend}/{node} at {addr}:{port}" + (
                f" ({admin})" if admin != "ready" else "")
    return repr(action)


# ---------------------------------------------------------------- the planner

def plan(pods: Iterable[Pod], apps: Iterable[App], nodes: Iterable[Node],
         containers: Iterable[Container], servers: Iterable[Server], *,
         configured: Mapping[str, Mapping[str, str]] | None = None,
         skip_pods: Iterable[str] = ()) -> list[Action]:
    """The actions that make the observed state match the desired state.

    ``configured`` is what the running haproxy.cfg was rendered from: app
    name → its routing fields (``HAProxy.configured_apps()``); None means no
    app is configured yet. ``skip_pods`` are pods whose host could not be
    observed this pass: their nodes, containers and servers are left alone
    (we cannot tell a missing container from an unreachable host).
    """
    pods_by_name = {p.name: p for p in pods}
    apps_by_name = {a.name: a for a in apps}
    skip = set(skip_pods)
    by_node = {(c.pod, c.node): c for c in containers}
    server_of = {(s.backend, s.name): s for s in servers if s.backend.startswith("app_")}
    actions: list[Action] = []
    wanted_servers: set[tuple[str, str]] = set()
    live: set[tuple[str, str]] = set()

    for node in sorted(nodes, key=lambda n: (n.pod, n.name)):
        if node.status == NodeStatus.REMOVED:
            continue                      # treated as gone: cleaned up below
        key = (node.pod, node.name)
        if node.pod in skip:
            live.add(key)
            wanted_servers.update(k for k in server_of if k[1] == node.name
                                  and k[0] == backend_name(node.app))
            continue
        pod, app = pods_by_name.get(node.pod), apps_by_name.get(node.app)
        if pod is None or app is None:
            continue                      # dangling record: nothing sensible to run
        live.add(key)
        backend = backend_name(app)
        container = by_node.get(key)
        server = server_of.get((backend, node.name))
        if node.status in (NodeStatus.ONLINE, NodeStatus.PAUSED):
            wanted_servers.add((backend, node.name))
        actions += _node_actions(node, app, container, server)

    # servers nobody wants: a removed/NEW node, a deleted app
    for (backend, name), server in sorted(server_of.items()):
        if (backend, name) not in wanted_servers:
            if not any(a for a in actions if isinstance(a, DelServer)
                       and (a.backend, a.node) == (backend, name)):
                actions.append(DelServer(backend, name))

    # containers of our label whose node record is gone
    for (pod, node), c in sorted(by_node.items()):
        if (pod, node) in live or pod in skip:
            continue
        if c.state not in DEAD_STATES and c.state != "created":
            actions.append(StopContainer(pod, c.name))
        actions.append(RemoveContainer(pod, c.name, reason="its node record is gone"))

    reason = config_drift(apps_by_name.values(), configured or {})
    if reason:
        actions.append(ReloadConfig(reason))

    return sorted(actions, key=phase_of)     # stable: keeps per-node order inside a phase


def _node_actions(node: Node, app: App, c: Container | None, s: Server | None) -> list[Action]:
    """What one node needs, in execution order (phases are applied later)."""
    pod, backend, name = node.pod, backend_name(app), container_name(node.pod, node.name)
    out: list[Action] = []

    def recreate(reason: str) -> list[Action]:
        steps: list[Action] = []
        if s is not None:
            steps.append(DelServer(backend, node.name))
        steps += [RemoveContainer(pod, name, reason=reason),
                  CreateContainer(pod, node.name, app.name), StartContainer(pod, name)]
        return steps

    def ensure_server(admin: str) -> list[Action]:
        if c is None or c.state != "running" or not c.ip:
            return []                    # not running yet: never point a server at it
        if s is None:
            return [AddServer(backend, node.name, c.ip, app.port, admin)]
        if (s.addr, s.port) != (c.ip, app.port):
            return [DelServer(backend, node.name), AddServer(backend, node.name, c.ip, app.port, admin)]
        if s.admin == admin:
            return []
        if admin == "maint" and s.admin == "ready":
            return [SetServerState(backend, node.name, "drain"), SetServerState(backend, node.name, "maint")]
        return [SetServerState(backend, node.name, admin)]

    status = node.status
    if status == NodeStatus.NEW:
        if s is not None:
            out.append(DelServer(backend, node.name))
        if c is None:
            out.append(CreateContainer(pod, node.name, app.name))
        elif c.state == "running":
            out.append(StopContainer(pod, name))
        return out

    if c is None:
        if s is not None:                # it ran before: record why it is back to square one
            if status == NodeStatus.ONLINE:
                out.append(MarkNode(pod, node.name, NodeStatus.FAILED,
                                    f"container {name} disappeared"))
            out.append(DelServer(backend, node.name))
        return out + [CreateContainer(pod, node.name, app.name), StartContainer(pod, name)]

    if c.state == "created":
        return ([DelServer(backend, node.name)] if s is not None else []) + [StartContainer(pod, name)]

    if c.state in DEAD_STATES:
        reason = f"container {name} is {c.state}"
        if status == NodeStatus.ONLINE:
            out.append(MarkNode(pod, node.name, NodeStatus.FAILED, reason))
        return out + recreate(reason)

    if c.state != "running":
        return out                       # restarting/removing/paused: look again next pass

    if status == NodeStatus.ONLINE:
        return ensure_server("ready")
    if status == NodeStatus.PAUSED:
        return ensure_server("maint")
    if status == NodeStatus.FAILED:
        steps = ensure_server("ready")
        if not c.ip:
            return steps
        return steps + [MarkNode(pod, node.name, NodeStatus.ONLINE,
                                 f"container {name} is running again")]
    return out


def config_drift(apps: Iterable[App], configured: Mapping[str, Mapping[str, str]]) -> str:
    """Why haproxy.cfg must be re-rendered, or "" if it matches the apps."""
    reasons = []
    desired = {a.name: a for a in apps}
    for name, app in sorted(desired.items()):
        have = configured.get(name)
        if have is None:
            reasons.append(f"app {name} has no backend")
            continue
        for f in ROUTING_FIELDS:
            want = getattr(app, f) or ""
            if (have.get(f) or "") != want:
                reasons.append(f"app {name}: {f} {have.get(f) or '-'} → {want or '-'}")
    for name in sorted(set(configured) - set(desired)):
        reasons.append(f"app {name} is gone")
    return "; ".join(reasons)
