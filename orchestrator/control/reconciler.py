"""The reconcile controller: observe, plan, act — again and again.

One pass (``Reconciler.reconcile_once``):

1. **observe** desired state from etcd (pods, apps, nodes) and actual state
   from every pod host (our labelled containers) and from HAProxy (servers,
   and which apps the running config was rendered from);
2. **plan**: ``plan.plan`` (pure) turns the difference into ordered actions;
3. **act**: execute them one by one on the hosts, HAProxy and etcd, record
   an event for each, and write the observed state of every node to etcd.

It is level-triggered: nothing is remembered between passes except what to
report, so a pass that fails half-way is simply finished by the next one.
A host that cannot be reached is skipped (its pods are left alone, an event
says so) and the other hosts are still reconciled; if HAProxy does not
answer, the pass is skipped as a whole.

``run(stop_event)`` loops: it waits for a change in etcd (a watch) or
``settings.reconcile_interval`` seconds, whichever comes first, then runs a
pass. After a pass that changed something it looks again soon, because some
changes take two passes (a container must be running, with an address,
before its server can be added).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from orchestrator.core import errors
from orchestrator.edges.haproxy import HAProxy
from orchestrator.edges.docker_host import DockerHost, HostPool
from orchestrator.core.model import App, Container, Node, Pod, Server, backend_name, container_name
from orchestrator.core.plan import (Action, AddServer, CreateContainer, DelServer, MarkNode, ReloadConfig,
                               RemoveContainer, SetServerState, StartContainer, StopContainer,
                               describe, phase_of, plan)

FOLLOW_UP_DELAY = 0.5      # seconds before the next pass when the last one acted
MAX_FOLLOW_UPS = 5         # quick passes in a row before waiting the full interval again
DRAIN_WAIT = 2.0           # seconds a draining server may finish its requests before maint
STOP_TIMEOUT = 5           # seconds between SIGTERM and SIGKILL when stopping a worker


@dataclass
class Observation:
    """Everything one pass saw, desired and actual."""

    pods: dict[str, Pod]
    apps: dict[str, App]
    nodes: dict[tuple[str, str], Node]
    containers: list[Container] = field(default_factory=list)
    container_host: dict[str, DockerHost] = field(default_factory=dict)   # name → its host
    servers: list[Server] = field(default_factory=list)
    configured: dict[str, dict] = field(default_factory=dict)
    skip_pods: set[str] = field(default_factory=set)


class Reconciler:
    """Drives the pod hosts and HAProxy towards the desired state in etcd."""

    def __init__(self, store, hosts: HostPool, haproxy: HAProxy, settings,
                 log: logging.Logger | None = None):
        self.store = store
        self.hosts = hosts
        self.haproxy = haproxy
        self.settings = settings
        self.log = log or logging.getLogger(__name__)
        self.last_failures: list[tuple[Action, str]] = []
        self._problems: set[str] = set()           # reported once, until they clear
        self._observed_cache: dict[tuple[str, str], dict] = {}

    # ------------------------------------------------------------ one pass
    def reconcile_once(self) -> list[Action]:
        """One level-triggered pass; returns the actions it planned (and tried)."""
        obs = self.observe()
        if obs is None:
            return []
        actions = plan(obs.pods.values(), obs.apps.values(), obs.nodes.values(),
                       obs.containers, obs.servers, configured=obs.configured,
                       skip_pods=obs.skip_pods)
        self.last_failures = []
        if not actions:
            self.log.info("in sync, nothing to do")
            self._write_observed(obs)
            return []
        failed_nodes: set[tuple[str, str]] = set()
        for phase_actions in _by_phase(actions):
            if isinstance(phase_actions[0], CONTAINER_ACTIONS) and len(phase_actions) > 1:
                # Container work goes over SSH and takes ~1 s per call: run the
                # nodes of one phase side by side (each node's steps in order).
                per_node: dict = {}
                for action in phase_actions:
                    per_node.setdefault(self._node_key(action, obs), []).append(action)
                with ThreadPoolExecutor(max_workers=HOST_PARALLELISM) as pool:
                    list(pool.map(lambda steps: [self._run(a, obs, failed_nodes) for a in steps],
                                  per_node.values()))
            else:
                for action in phase_actions:
                    self._run(action, obs, failed_nodes)
        after = self.observe(report=False)
        self._write_observed(after or obs)
        return actions

    def _run(self, action: Action, obs: Observation, failed_nodes: set) -> None:
        """Execute one action, record it; a failure skips that node's later steps."""
        key = self._node_key(action, obs)
        if key is not None and key in failed_nodes:
            self.log.info("skipping %s: an earlier step for this node failed", describe(action))
            return
        try:
            self.execute(action, obs)
        except Exception as exc:  # noqa: BLE001 - one failure must not stop the pass
            message = f"{describe(action)} failed: {exc}"
            self.log.warning(message)
            self.last_failures.append((action, str(exc)))
            self._event("controller.error", self._subject(action, obs), message)
            if key is not None:
                failed_nodes.add(key)
            return
        self.log.info(describe(action))
        self._event(_kind(action), self._subject(action, obs), describe(action))

    # ------------------------------------------------------------ observe
    def observe(self, report: bool = True) -> Observation | None:
        """Read desired state from etcd and actual state from hosts and HAProxy.

        Returns None (and reports the problem once) if HAProxy does not answer.
        """
        pods = {p.name: p for p in self.store.list_pods()}
        obs = Observation(pods=pods, apps={a.name: a for a in self.store.list_apps()},
                          nodes={(n.pod, n.name): n for n in self.store.list_nodes()})
        pods_of_host: dict[str, list[str]] = {}
        for pod in pods.values():
            pods_of_host.setdefault(pod.host, []).append(pod.name)
        for host_name, pod_names in sorted(pods_of_host.items()):
            problem = f"host {host_name}"
            try:
                host = self.hosts.get(host_name)
                containers = host.list_workers()
            except errors.SimpleCloudError as exc:
                obs.skip_pods.update(pod_names)
                if report:
                    self._problem(problem, f"cannot observe host {host_name} (pods "
                                  f"{', '.join(pod_names)}): {exc}; leaving them alone")
                continue
            if report:
                self._cleared(problem, f"host {host_name} answers again")
            for c in containers:
                obs.container_host[c.name] = host
                obs.containers.append(c)
        try:
            obs.servers = self.haproxy.show_servers()
            obs.configured = self.haproxy.configured_apps()
        except errors.SimpleCloudError as exc:
            if report:
                self._problem("haproxy", f"HAProxy does not answer: {exc}; skipping this pass")
            return None
        if report:
            self._cleared("haproxy", "HAProxy answers again")
        return obs

    # ------------------------------------------------------------ act
    def execute(self, action: Action, obs: Observation) -> None:
        """Carry out one action on the host, HAProxy or etcd it concerns."""
        match action:
            case MarkNode(pod, node, status, reason):
                current = obs.nodes.get((pod, node))
                if current is None:
                    return
                updated = self.store.update_node(dataclasses.replace(current, status=status))
                obs.nodes[(pod, node)] = updated
            case SetServerState(backend, node, admin):
                if admin == "maint":
                    self.haproxy.wait_idle(backend, node, DRAIN_WAIT)
                self.haproxy.set_state(backend, node, admin)
            case DelServer(backend, node):
                self.haproxy.del_server(backend, node)
            case StopContainer(pod, name):
                self._host_of(pod, name, obs).stop(name, timeout=STOP_TIMEOUT)
            case RemoveContainer(pod, name, _):
                self._host_of(pod, name, obs).remove(name)
            case ReloadConfig(_):
                self.haproxy.apply_config(obs.apps.values())
            case CreateContainer(pod_name, node, app_name):
                pod, app = obs.pods[pod_name], obs.apps[app_name]
                host = self.hosts.get(pod.host)
                command = list(app.command) if app.command is not None else None
                host.create_worker(pod.name, node, app.name, app.run_image, command, app.port,
                                   pod.cpus, pod.memory_mb)
                obs.container_host[container_name(pod_name, node)] = host
            case StartContainer(pod, name):
                self._host_of(pod, name, obs).start(name)
            case AddServer(backend, node, addr, port, admin):
                self.haproxy.add_server(backend, node, addr, port, admin=admin)
            case _:
                raise TypeError(f"unknown action {action!r}")

    def _host_of(self, pod: str, name: str, obs: Observation) -> DockerHost:
        """The host a container was seen on, else the host of its pod."""
        if name in obs.container_host:
            return obs.container_host[name]
        if pod not in obs.pods:
            raise errors.NotFound(f"container {name}: pod {pod} does not exist and the "
                                  "container was not seen on any host")
        return self.hosts.get(obs.pods[pod].host)

    # ------------------------------------------------------------ loop
    def run(self, stop_event: threading.Event) -> None:
        """Reconcile until ``stop_event`` is set: after each etcd change or
        every ``reconcile_interval`` seconds, sooner while there is work."""
        follow_ups = 0
        while not stop_event.is_set():
            try:
                actions = self.reconcile_once()
            except Exception:  # noqa: BLE001 - the loop must survive anything
                self.log.exception("reconcile pass failed; retrying in %ss",
                                   self.settings.reconcile_interval)
                stop_event.wait(self.settings.reconcile_interval)
                continue
            succeeded = len(actions) > len(self.last_failures)
            if actions and succeeded and follow_ups < MAX_FOLLOW_UPS:
                follow_ups += 1
                stop_event.wait(FOLLOW_UP_DELAY)
                continue
            follow_ups = 0
            if stop_event.is_set():
                break
            try:
                self.store.wait_for_change(timeout=self.settings.reconcile_interval)
            except Exception as exc:  # noqa: BLE001 - etcd down: wait, then try again
                self.log.warning("cannot watch etcd (%s); next pass in %ss", exc,
                                 self.settings.reconcile_interval)
                stop_event.wait(self.settings.reconcile_interval)

    # ------------------------------------------------------------ reporting
    def _write_observed(self, obs: Observation) -> None:
        """observed/<pod>/<node> for every node, written only when it changed."""
        containers = {(c.pod, c.node): c for c in obs.containers}
        servers = {(s.backend, s.name): s for s in obs.servers}
        try:
            for (pod, name), node in obs.nodes.items():
                if pod in obs.skip_pods:
                    continue
                c = containers.get((pod, name))
                s = servers.get((backend_name(node.app), name))
                state = {"container": c.state if c else None, "ip": c.ip if c else None,
                         "server": s.admin if s else None, "healthy": s.healthy if s else None,
                         "status": str(node.status)}
                if self._observed_cache.get((pod, name)) != state:
                    self.store.put_observed(pod, name, {**state, "time": time.time()})
                    self._observed_cache[(pod, name)] = state
            for key in list(self._observed_cache):
                if key not in obs.nodes:
                    self.store.delete_observed(*key)
                    del self._observed_cache[key]
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot write observed state: %s", exc)

    def _event(self, kind: str, subject: str, message: str) -> None:
        try:
            self.store.record_event(kind, subject, message)
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot record event %s (%s): %s", kind, message, exc)

    def _problem(self, key: str, message: str) -> None:
        self.log.warning(message)
        if key not in self._problems:
            self._problems.add(key)
            self._event("controller.error", key, message)

    def _cleared(self, key: str, message: str) -> None:
        if key in self._problems:
            self._problems.discard(key)
            self.log.info(message)
            self._event("controller.recovered", key, message)

    def _node_key(self, action: Action, obs: Observation) -> tuple[str, str] | None:
        """(pod, node) an action is about, to skip later steps of a node that failed."""
        match action:
            case MarkNode(pod, node, _, _) | CreateContainer(pod, node, _):
                return (pod, node)
            case StartContainer(pod, name) | StopContainer(pod, name) | RemoveContainer(pod, name, _):
                prefix = f"sc-{pod}-"
                return (pod, name[len(prefix):]) if name.startswith(prefix) else (pod, name)
            case AddServer(backend=backend, node=node) | DelServer(backend, node) | SetServerState(backend, node, _):
                app = obs.apps.get(backend.removeprefix("app_"))
                return (app.pod, node) if app else None
        return None

    def _subject(self, action: Action, obs: Observation) -> str:
        key = self._node_key(action, obs)
        return f"{key[0]}/{key[1]}" if key else "haproxy"


def _kind(action: Action) -> str:
    """Event kind of an executed action, e.g. "controller.add_server"."""
    name = type(action).__name__
    snake = "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")
    if isinstance(action, MarkNode):
        return f"node.{str(action.status).lower()}"
    return f"controller.{snake}"


# Container actions of one phase run side by side, at most this many at once
# (sshd's MaxStartups drops connections beyond ~10 handshakes at a time).
HOST_PARALLELISM = 6
CONTAINER_ACTIONS = (CreateContainer, StartContainer, StopContainer, RemoveContainer)


def _by_phase(actions: list[Action]) -> list[list[Action]]:
    """Consecutive runs of actions with the same phase (plan() sorts by phase)."""
    groups: list[list[Action]] = []
    for action in actions:
        if groups and phase_of(groups[-1][0]) == phase_of(action):
            groups[-1].append(action)
        else:
            groups.append([action])
    return groups
