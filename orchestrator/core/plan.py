"""The planner: desired state + observed state → the steps that close the gap.

A purely computational function, no I/O: a controller observes (etcd, one
host, HAProxy), calls ``plan`` and executes what it returns. The same
inputs always give the same plan, and **an empty plan means in sync**.
Because every pass re-reads everything (level-triggered), a step that fails
or is lost is simply planned again next pass.

The plan is a set of **chains** of steps (core/steps.py), one per node (and one per orphan): the
steps of one chain run in order, a failed step ends its chain, and chains
run side by side. Inside a chain the order keeps two promises: a server
never points at a container that is not running (it is added after the
start, with the address the start gave), and a container is never stopped
while its server takes traffic (the server is drained and deleted first).

What each desired node status asks for (docs/orchestrator.md):

=========  ===========================  ====================================
status     container (current gen.)     HAProxy server ``<node>.<id>``
=========  ===========================  ====================================
NEW        exists, not running          absent
ONLINE     running                      present, ``ready``
PAUSED     running                      present, ``maint`` (after a drain)
(gone)     stopped and removed          drained and deleted
=========  ===========================  ====================================

A *warm* ONLINE node (``Node.warm``, its app's warm pool) is run the same way
but its server is kept in ``drain``: HAProxy checks its health and sends it
no requests. Promoting it (the flag cleared) is one ``set server ... state
ready``; turning a serving node warm is one ``state drain``. While its app is
at zero (no node but warm ones), a warm node that passed its check is
*frozen*: its server goes to ``maint`` (no checks) and its container is
paused (``docker pause``: no CPU); promoted, it is unpaused and its server
set ``ready``, which HAProxy marks UP at once. That ``drain``
is never read as a retirement: what is retired is decided by the node
records (a node gone, another generation), never by a server's state.

**Generations.** A container is made from its app's run spec (image,
command, port, limits); ``spec_generation`` hashes it into the container's
name and label. When the spec changes, the node's container of the old
generation keeps serving while one of the new generation starts beside it;
once the new one passes its health check the old one is drained and removed.
At most ``HealingPolicy.max_surge`` nodes of an app do this at a time: a rolling
update, one node after the other, with no moment of fewer serving workers.

**Healing** (``healing.judge``): a worker that exited, hung, or never became
healthy is taken out of HAProxy and replaced, with back-off if it keeps
failing.

**Hosts.** The plan of host X is about the nodes placed on X (``Node.host``)
and the containers made for X (core/ownership.py says which containers and
servers are X's business). A container on X of a node placed elsewhere is
retired once the node serves on its new host (its observed record:
``serving_elsewhere``), at once if it does not serve itself; a returning
host's stale containers thus go before they can serve again (their servers
were deleted by the host that took their nodes). A node not placed yet
(``host`` "") is left alone by every host.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from orchestrator.core import healing
from orchestrator.core.healing import HealingPolicy, NodeHealth
from orchestrator.core.model import (
    App,
    Container,
    Node,
    NodeStatus,
    Pod,
    Server,
    current_container,
    spec_generation,
)
from orchestrator.core.naming import backend_name, server_name
from orchestrator.core.ownership import made_for, stale_server
from orchestrator.core.steps import (
    Action,
    AddServer,
    CreateContainer,
    DelServer,
    FreezeContainer,
    Note,
    RemoveContainer,
    SetServerState,
    StartContainer,
    StopContainer,
)

ROUTING_FIELDS = ("path", "host", "balance", "health_path", "strip_path")
"""App fields baked into haproxy.cfg; a change in any of them needs a reload."""


# ---------------------------------------------------------------- steps


@dataclass
class Plan:
    chains: dict[str, list[Action]] = field(default_factory=dict)   # key → ordered steps
    health: dict[tuple[str, str], NodeHealth] = field(default_factory=dict)  # new records
    notes: list[Note] = field(default_factory=list)
    wake_at: float | None = None          # look again no later than this (back-off, start timeout)

    @property
    def actions(self) -> list[Action]:
        return [a for chain in self.chains.values() for a in chain]

    def __bool__(self) -> bool:
        return any(self.chains.values())


# ---------------------------------------------------------------- the planner

def plan(pods: Iterable[Pod], apps: Iterable[App], nodes: Iterable[Node],
         containers: Iterable[Container], servers: Iterable[Server], *,
         host: str | None = None, backends: Iterable[str] | None = None,
         health: Mapping[tuple[str, str], NodeHealth] | None = None,
         now: float = 0.0, policy: HealingPolicy = HealingPolicy(),
         cpu: Mapping[str, float] | None = None,
         serving_elsewhere: Collection[tuple[str, str]] = (),
         lost_hosts: Collection[str] = ()) -> Plan:
    """The steps that make one host's containers and their servers match.

    ``host``: the host planned: its nodes are those placed on it (None: every
    node and container, one host for all). ``containers`` are those seen on
    that host; ``servers`` are HAProxy's. ``backends``: the HAProxy backends
    that exist now (a server is only added to an app whose backend is there;
    None: assume all are). ``health``: each node's record (healing.NodeHealth).
    ``now``: the time of the observation. ``cpu``: CPUs lately used by
    containers that are suspects (DOWN after having passed a check;
    ``healing.suspect``), by container id. ``serving_elsewhere``: (pod, node)
    of nodes placed on another host that serve there now; ``lost_hosts``: the
    hosts that do not answer (module docstring, **Hosts**).
    """
    pods_by_name = {p.name: p for p in pods}
    apps_by_name = {a.name: a for a in apps}
    have_backends = None if backends is None else set(backends)
    health = health or {}
    known = {(n.pod, n.name): n for n in nodes if n.status != NodeStatus.REMOVED
             and n.pod in pods_by_name and n.app in apps_by_name and apps_by_name[n.app].pod == n.pod}
    live = [n for n in known.values() if host is None or n.host == host]
    by_node: dict[tuple[str, str], list[Container]] = {}
    for c in containers:
        if made_for(c, host, pods_by_name):
            by_node.setdefault((c.pod, c.node), []).append(c)
    server_of = {(s.backend, s.name): s for s in servers if s.backend.startswith("app_")}

    out = Plan()
    ctx = _Context(pods_by_name, apps_by_name, server_of, have_backends, now, policy, dict(cpu or {}),
                   serving_apps={n.app for n in known.values() if not n.warm})
    ctx.surge_left = _surge_budget(live, by_node, ctx)

    for node in sorted(live, key=lambda n: (n.pod, n.name)):
        key = (node.pod, node.name)
        record = health.get(key, NodeHealth())
        steps, new_record = _node_steps(node, by_node.get(key, []), record, ctx, out)
        if steps:
            out.chains[f"{node.pod}/{node.name}"] = steps
        if new_record != record:
            out.health[key] = new_record

    # containers here whose node is gone (or belongs to another app now), or is placed elsewhere
    for key, cs in sorted(by_node.items()):
        found = known.get(key)
        for c in sorted(cs, key=lambda c: c.name):
            if found is None or found.app != c.app:
                out.chains[f"orphan/{c.name}"] = _retire(c, ctx, drain=True, reason="its node record is gone")
            elif host is not None and found.host != host and found.host:
                if key in serving_elsewhere or not ctx.serving(c):
                    out.chains[f"moved/{c.name}"] = _retire(c, ctx, drain=ctx.serving(c),
                                                            reason=f"its node moved to host {found.host}")
                else:
                    _wake(out, now + MOVED_CHECK)    # look again: does it serve on its new host yet?

    # servers of this host's apps that point at no container of this host
    wanted = {(backend_name(c.app), server_name(c.node, c.id)) for cs in by_node.values() for c in cs}
    here = {backend_name(a): a for a in apps_by_name.values()
            if a.pod in pods_by_name and (host is None or host in pods_by_name[a.pod].hosts)}
    for (backend, name), server in sorted(server_of.items()):
        if backend in here and (backend, name) not in wanted and \
                stale_server(server, here[backend], known, host, pods_by_name, set(lost_hosts)):
            _side(out, DelServer(backend, name))
    return out


MOVED_CHECK = 1.0
"""Seconds before a host looks again at a container of a node that moved away
and does not serve on its new host yet."""


@dataclass
class _Context:
    pods: dict[str, Pod]
    apps: dict[str, App]
    server_of: dict[tuple[str, str], Server]
    backends: set[str] | None
    now: float
    policy: HealingPolicy
    cpu: dict[str, float] = field(default_factory=dict)
    surge_left: dict[str, int] = field(default_factory=dict)
    serving_apps: set[str] = field(default_factory=set)      # apps with a node that is not warm

    def frozen(self, node: Node) -> bool:
        """Whether a warm node is kept paused: its app is at zero (no node but warm ones)."""
        return node.warm and node.status == NodeStatus.ONLINE and node.app not in self.serving_apps

    def server(self, c: Container) -> Server | None:
        return self.server_of.get((backend_name(c.app), server_name(c.node, c.id)))

    def serving(self, c: Container) -> bool:
        s = self.server(c)
        return (c.state == "running" and s is not None and s.admin == "ready"
                and s.healthy is not False)

    def has_backend(self, app: App) -> bool:
        return self.backends is None or backend_name(app) in self.backends


def _surge_budget(live: list[Node], by_node: Mapping[tuple[str, str], list[Container]],
                  ctx: _Context) -> dict[str, int]:
    """Per app: how many more nodes may start a new generation beside a serving
    old one. A node is busy from the start of its new container until its old
    one is gone, so at most ``max_surge`` extra containers exist at any time."""
    busy: dict[str, int] = {}
    for n in live:
        app, pod = ctx.apps[n.app], ctx.pods[n.pod]
        want = spec_generation(app, pod)
        cs = by_node.get((n.pod, n.name), [])
        cur = [c for c in cs if c.gen == want]
        olds = [c for c in cs if c.gen != want]
        if cur and olds:
            busy[n.app] = busy.get(n.app, 0) + 1
    return {name: ctx.policy.max_surge - busy.get(name, 0) for name in ctx.apps}


def _node_steps(node: Node, cs: list[Container], record: NodeHealth, ctx: _Context,
                out: Plan) -> tuple[list[Action], NodeHealth]:
    """What one node needs, in execution order, and its updated health record."""
    app, pod = ctx.apps[node.app], ctx.pods[node.pod]
    want = spec_generation(app, pod)
    cur = current_container(cs, want)
    olds = sorted((c for c in cs if c is not cur), key=lambda c: c.name)
    subject = f"{node.pod}/{node.name}"
    steps: list[Action] = []

    if node.status == NodeStatus.NEW:
        for c in olds:
            steps += _retire(c, ctx, drain=True, reason="replaced by a newer spec")
        if cur is None:
            return steps + [CreateContainer(node.pod, node.name, app.name, want)], record
        if (s := ctx.server(cur)) is not None:
            steps.append(DelServer(backend_name(app), s.name))
        if cur.state == "running":
            steps.append(StopContainer(node.pod, cur.name))
        return steps, record

    admin = "maint" if node.status == NodeStatus.PAUSED else "drain" if node.warm else "ready"
    before = record
    verdict = healing.judge(cur, ctx.server(cur) if cur else None, record, ctx.now, ctx.policy,
                            ctx.cpu.get(cur.id) if cur else None)
    record = verdict.health
    if cur is not None and not verdict.replace and healing.suspect(cur, ctx.server(cur), record):
        # hung or busy? look again soon with a CPU reading; a busy one when its grace ends
        _wake(out, ctx.now + ctx.policy.hung_probe if cur.id not in ctx.cpu
              else record.down_since + ctx.policy.busy_grace)
    if cur is not None and verdict.replace:
        out.notes.append(Note("node.failed", subject, f"node {subject} failed: {verdict.reason}; "
                              f"replacing it (restart {record.restarts}, "
                              f"{record.streak} in a row)"))
        steps += _retire(cur, ctx, drain=False, reason=verdict.reason, out=out)
        cur = None
    elif cur is not None and verdict.wait_until:
        if (s := ctx.server(cur)) is not None:
            _side(out, DelServer(backend_name(app), s.name))
        if before.failed_id != cur.id:        # seen for the first time: say so once
            wait = verdict.wait_until - ctx.now
            out.notes.append(Note("node.backoff", subject, f"node {subject} failed: {verdict.reason}; "
                                  f"{record.streak} failures in a row, so it is replaced in "
                                  f"{wait:.0f} s (back-off)"))
        _wake(out, verdict.wait_until)
        return steps, record
    elif cur is not None and cur.state == "running" and (s := ctx.server(cur)) is not None \
            and s.healthy is False and cur.created and record.healthy_id != cur.id:
        _wake(out, cur.created + ctx.policy.start_timeout + 0.1)   # judge it when its time is up

    if cur is None:
        if admin == "ready" and any(ctx.serving(c) for c in olds):
            if ctx.surge_left.get(app.name, 0) <= 0:
                return steps, record           # the update waits its turn; the old one serves
            ctx.surge_left[app.name] -= 1
            return steps + _run(node, app, want, admin, ctx), record
        for c in olds:
            steps += _retire(c, ctx, drain=ctx.serving(c), reason="replaced by a newer spec", out=out)
        return steps + _run(node, app, want, admin, ctx), record

    # the current generation exists: old ones go once it serves (or if they do not)
    if olds and (admin == "maint" or ctx.serving(cur) or not any(ctx.serving(c) for c in olds)):
        for c in olds:
            steps += _retire(c, ctx, drain=ctx.serving(c), reason="replaced by a newer spec", out=out)
    if cur.state == "created":
        steps.append(StartContainer(node.pod, cur.name))
        if ctx.has_backend(app):
            steps.append(AddServer(backend_name(app), node.name, cur.name, app.port, admin, cid=cur.id))
        return steps, record
    if cur.state == "running":
        if ctx.frozen(node) and _checked_warm(cur, app, ctx):
            return steps + [SetServerState(backend_name(app), server_name(node.name, cur.id), "maint"),
                            FreezeContainer(node.pod, cur.name)], record
        steps += _ensure_server(cur, app, admin, ctx)
    elif cur.state == "paused" and _frozen_here(node, cur, ctx):
        s = ctx.server(cur)
        if ctx.frozen(node) and s is not None:
            return steps, record
        # thawed (promoted, or its server lost); Docker gives a paused container no address
        thawed = dataclasses.replace(cur, state="running", ip=cur.ip or (s.addr if s is not None else None))
        steps += [FreezeContainer(node.pod, cur.name, frozen=False), *_ensure_server(thawed, app, admin, ctx)]
    return steps, record                   # restarting/removing: look again next pass


def _frozen_here(node: Node, c: Container, ctx: _Context) -> bool:
    """Whether a paused container was frozen by the planner (its server put in maint
    first, or a warm node's server since lost); one paused otherwise (a hang, or
    by hand) is for healing to judge."""
    s = ctx.server(c)
    return (s.admin == "maint") if s is not None else node.warm


def _checked_warm(c: Container, app: App, ctx: _Context) -> bool:
    """A warm node's server as it should be (drain, at its address) and passing its check."""
    s = ctx.server(c)
    return (s is not None and s.admin == "drain" and s.healthy is True and s.checks
            and (s.addr, s.port) == (c.ip, app.port))


def _wake(out: Plan, when: float) -> None:
    out.wake_at = when if out.wake_at is None else min(out.wake_at, when)


def _run(node: Node, app: App, gen: str, admin: str, ctx: _Context) -> list[Action]:
    """Create and start a container of generation ``gen`` and put it in HAProxy."""
    create = CreateContainer(node.pod, node.name, app.name, gen)
    steps: list[Action] = [create, StartContainer(node.pod, create.name)]
    if ctx.has_backend(app):
        steps.append(AddServer(backend_name(app), node.name, create.name, app.port, admin))
    return steps


def _retire(c: Container, ctx: _Context, drain: bool, reason: str, out: Plan | None = None) -> list[Action]:
    """Take a container out of HAProxy, then stop and remove it.

    ``drain``: its server is drained and deleted before the container stops
    (a healthy worker going away). Otherwise (a failed worker) its server is
    deleted in a chain of its own, side by side, so that the replacement does
    not wait for the failed worker's requests to be retried elsewhere."""
    steps: list[Action] = []
    s = ctx.server(c)
    if s is not None:
        if drain or out is None:
            steps.append(DelServer(s.backend, s.name))
        else:
            _side(out, DelServer(s.backend, s.name))
    if drain and c.state == "running":
        steps.append(StopContainer(c.pod, c.name))
    return steps + [RemoveContainer(c.pod, c.name, reason=reason)]


def _side(out: Plan, action: DelServer) -> None:
    """A server deletion in a chain of its own."""
    out.chains[f"server/{action.backend}/{action.server}"] = [action]


def _ensure_server(c: Container, app: App, admin: str, ctx: _Context) -> list[Action]:
    """The steps that give a running container its server in state ``admin``."""
    if not c.ip or not ctx.has_backend(app):
        return []
    backend, name, s = backend_name(app), server_name(c.node, c.id), ctx.server(c)
    add = AddServer(backend, c.node, c.name, app.port, admin, addr=c.ip, cid=c.id)
    if s is None:
        return [add]
    if not s.checks or (s.addr, s.port) != (c.ip, app.port):
        # half-added (a crash before its checks were on) or moved: add it again
        return [DelServer(backend, name), add]
    if s.admin == admin:
        return []
    if admin == "maint" and s.admin == "ready":
        return [SetServerState(backend, name, "drain"), SetServerState(backend, name, "maint")]
    return [SetServerState(backend, name, admin)]


def config_drift(apps: Iterable[App], configured: Mapping[str, Mapping[str, str]],
                 wake: Collection[str] = ()) -> str:
    """Why haproxy.cfg must be re-rendered, or "" if it matches the apps (and
    the apps in ``wake`` have the waker, the others not)."""
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
        if bool(have.get("wake")) != (name in wake):
            reasons.append(f"app {name}: {'wakes from zero' if name in wake else 'no longer wakes from zero'}")
    for name in sorted(set(configured) - set(desired)):
        reasons.append(f"app {name} is gone")
    return "; ".join(reasons)
