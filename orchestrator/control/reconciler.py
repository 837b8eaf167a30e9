"""The reconciler of one host: observe, plan, act — again and again.

There is one ``HostReconciler`` per host (a pod's or a spare), each in its
own thread, so a slow or dead host delays nobody else. It drives the nodes
placed on its host (``Node.host``; the placer moves them, control/placer.py)
and retires its containers of nodes placed elsewhere. One pass
(``reconcile_once``):

1. **observe** the desired state in etcd (pods, apps, nodes, which hosts are
   lost, and whether the nodes that moved away from here serve on their new
   host yet), the host's labelled containers (one call over its link) and
   HAProxy's servers;
2. **plan**: ``core.plan.plan`` (pure) turns the difference into chains of
   steps, one chain per node, and decides about failed workers
   (``core.healing``);
3. **act**: run the chains side by side (the steps of one chain in order), an
   event per step; then write what was seen of every node to etcd
   (``observed/<pod>/<node>``: phase, container, health, restarts...;
   control/node_records.py).

It is level-triggered: a pass that fails half-way is finished by the next one.
What it keeps between passes is each node's healing record (restarts,
back-off), and that is written to etcd too, so a restarted manager goes on
where the last one stopped. If the host's link is down the pass does nothing
but mark the nodes placed on it *unreachable* (their records stay in etcd).

``run(stop)`` loops: a pass whenever something wakes it (``wake``: a change
in etcd, a Docker event on the host, a health change in HAProxy, the link
going up or down), when the plan asked to look again at a given time
(back-off), or every ``interval`` seconds (``reconcile_interval``). After a pass that acted
it looks again soon: a worker that was just started still has to pass its
health check before an old one is retired.

Every pass (duration, outcome) and every step (kind, outcome, duration) is
counted in ``telemetry`` (observe/telemetry.py, for ``/metrics``).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from orchestrator.control.haproxy_steps import run_haproxy_step
from orchestrator.control.node_records import NodeRecords
from orchestrator.control.reporting import Reporter
from orchestrator.core import errors, healing, observed
from orchestrator.core.healing import HealingPolicy, NodeHealth
from orchestrator.core.model import App, Container, Node, Pod
from orchestrator.core.naming import backend_name, server_name
from orchestrator.core.plan import Plan, plan
from orchestrator.core.pools import unreachable_since
from orchestrator.core.steps import (
    Action,
    AddServer,
    CreateContainer,
    DelServer,
    FreezeContainer,
    RemoveContainer,
    SetServerState,
    StartContainer,
    StopContainer,
    describe,
)
from orchestrator.edges.hostpool import HostPool
from orchestrator.edges.protocols import HAProxyProtocol, StoreProtocol
from orchestrator.observe.telemetry import Telemetry
from orchestrator.settings import WorkerSettings

FOLLOW_UP_DELAY = 0.2      # seconds before the next pass when the last one acted
STOP_TIMEOUT = 5           # seconds between SIGTERM and SIGKILL when stopping a worker


class HostReconciler:
    """Drives one pod host and its HAProxy servers towards the desired state."""

    def __init__(self, host: str, store: StoreProtocol, hosts: HostPool, haproxy: HAProxyProtocol,
                 policy: HealingPolicy, workers: WorkerSettings, interval: float,
                 log: logging.Logger | None = None, telemetry: Telemetry | None = None,
                 guard: Callable[[], int | None] = lambda: None):
        """``policy``: the healing group of the settings; ``workers``: what
        containers are made with; ``interval``: seconds between passes when
        nothing wakes it; ``telemetry``: where passes and steps are counted
        (the controller's; None: a private one); ``guard()``: called before
        every step, returns the leader's epoch (labelled on new containers) or
        raises NotLeader (a single manager: None, no election)."""
        self.guard = guard
        self.host = host
        self.telemetry = telemetry or Telemetry()
        self.store = store
        self.hosts = hosts
        self.haproxy = haproxy
        self.policy = policy
        self.workers = workers
        self.interval = interval
        self.log = log or logging.getLogger(f"orchestrator.reconciler.{host}")
        self.wake = threading.Event()
        self.last_failures: list[tuple[Action, str]] = []
        self.last_plan: Plan | None = None
        self.records = NodeRecords(store, host, policy, self.log)
        self.reporter = Reporter(store, self.log)
        self._cpu_samples: dict[str, tuple[float, int]] = {}   # suspect id -> (time, CPU ns)
        self._problem = ""

    # ------------------------------------------------------------ one pass
    def reconcile_once(self) -> Plan | None:
        """One level-triggered pass; returns the plan it carried out (None: nothing to
        plan). Counted in ``telemetry`` with its duration and outcome."""
        started, outcome = time.monotonic(), "error"
        try:
            outcome, result = self._pass()
            return result
        finally:
            self.telemetry.reconcile_pass(self.host, time.monotonic() - started, outcome)

    def _pass(self) -> tuple[str, Plan | None]:
        pods = self.store.list_pods()
        nodes = self.store.list_nodes()
        named = any(self.host in p.hosts for p in pods) or any(n.host == self.host for n in nodes)
        if not named and self.store.get_host(self.host) is None:
            return "no_pods", None
        apps = self.store.list_apps()
        self.records.load()
        link = self.hosts.link(self.host)
        try:
            if not link.up:
                link.check_up()
            called = time.monotonic()
            containers = self.hosts.get(self.host).list_workers()
            self.telemetry.host_call(self.host, "list_workers", time.monotonic() - called)
        except errors.SimpleCloudError as exc:
            self._report_problem(f"cannot observe host {self.host}: {exc}; leaving the nodes placed on it "
                                 f"as they are")
            self.records.write_unreachable(nodes, str(exc))
            return "host_unreachable", None
        try:
            servers, backends = self.haproxy.show_servers(), self.haproxy.backends()
        except errors.SimpleCloudError as exc:
            self._report_problem(f"HAProxy does not answer: {exc}; skipping this pass")
            return "haproxy_unreachable", None
        self._report_cleared(f"host {self.host} and HAProxy answer again")
        now = time.time()
        self.records.forget_old_incarnations(nodes)
        self.records.adopt(nodes)
        server_of = {(s.backend, s.name): s for s in servers}
        cpu = self._cpu_of_suspects(containers, server_of, now)
        result = plan(pods, apps, nodes, containers, servers, host=self.host, backends=backends,
                      health=self.records.health, now=now, policy=self.policy, cpu=cpu,
                      serving_elsewhere=self._serving_elsewhere(nodes, containers),
                      lost_hosts=set(unreachable_since(self.store.list_link_states())))
        self.last_plan = result
        for note in result.notes:
            self.log.warning(note.message)
            self._event(note.kind, note.subject, note.message)
        self.records.health.update(result.health)
        self.last_failures = []
        if result:
            self._run_chains(result, {p.name: p for p in pods}, {a.name: a for a in apps})
        self.records.write_views(pods, apps, nodes, containers, server_of, now)
        outcome = "step_failed" if self.last_failures else "acted" if result else "in_sync"
        return outcome, result

    def _serving_elsewhere(self, nodes: list[Node], containers: list[Container]) -> set[tuple[str, str]]:
        """The nodes that moved away from here (a container of theirs is here) and
        serve on their new host now, by the observed record that host writes."""
        placed = {(n.pod, n.name): n for n in nodes}
        away = {(c.pod, c.node) for c in containers if c.host in ("", self.host)
                and (n := placed.get((c.pod, c.node))) is not None and n.host not in ("", self.host)}
        if not away:
            return set()
        seen = self.store.list_observed()
        out = set()
        for key in away:
            view = observed.current(seen.get(key), placed[key])
            if view is not None and view.get("phase") in ("serving", "warm") and view.get("host") == placed[key].host:
                out.add(key)
        return out

    # ------------------------------------------------------------ act
    def _run_chains(self, result: Plan, pods: dict[str, Pod], apps: dict[str, App]) -> None:
        chains = [(key, steps) for key, steps in result.chains.items() if steps]
        chains.sort(key=lambda kv: not _promotion(kv[1]))   # never queued behind container starts
        if len(chains) == 1:
            self._run_chain(*chains[0], pods, apps)
            return
        with ThreadPoolExecutor(max_workers=min(len(chains), self.workers.host_parallelism),
                                thread_name_prefix=f"act-{self.host}") as pool:
            list(pool.map(lambda kv: self._run_chain(kv[0], kv[1], pods, apps), chains))

    def _run_chain(self, key: str, steps: list[Action], pods, apps) -> None:
        """Run one chain's steps in order; a failed step ends the chain."""
        started: dict[str, Container] = {}
        for i, action in enumerate(steps):
            began = time.monotonic()
            try:
                done = self.execute(action, pods, apps, started) or describe(action)
            except errors.NotLeader as exc:
                self.log.info("%s: not the leader any more, %s not done (%s)", key, describe(action), exc)
                return
            except Exception as exc:  # noqa: BLE001 - one failure must not stop the others
                self.telemetry.action(self.host, action_kind(action), "failed", time.monotonic() - began)
                for rest in steps[i + 1:]:
                    self.telemetry.action(self.host, action_kind(rest), "skipped")
                message = f"{describe(action)} failed: {exc}"
                self.last_failures.append((action, str(exc)))
                self.reporter.error("controller.error", key, message, key=action_kind(action),
                                    names=[v for v in vars(action).values() if isinstance(v, str)])
                if len(steps) > 1:
                    self.log.info("%s: skipping the rest of its steps until the next pass", key)
                return
            self.telemetry.action(self.host, action_kind(action), "ok", time.monotonic() - began)
            self.log.info(done)
            self._event(_kind(action), key, done)

    def execute(self, action: Action, pods: dict[str, Pod], apps: dict[str, App],
                started: dict[str, Container]) -> str | None:
        """Carry out one step on the host or HAProxy; returns what was done, in
        words, when it says more than ``describe(action)``."""
        epoch = self.guard()                  # a deposed leader stops here (edges/election.py)
        host = self.hosts.get(self.host)
        match action:
            case SetServerState() | DelServer():
                run_haproxy_step(self.haproxy, action)
            case StopContainer(_, name):
                host.stop(name, timeout=STOP_TIMEOUT)
            case FreezeContainer(_, name, frozen):
                host.pause(name) if frozen else host.unpause(name)
            case RemoveContainer(_, name, _):
                host.remove(name)
            case CreateContainer(pod_name, node, app_name, gen):
                pod, app = pods[pod_name], apps[app_name]
                cpus, memory_mb = app.limits(pod)
                command = list(app.command) if app.command is not None else None
                host.create_worker(pod.name, node, app.name, app.run_image, command, app.port,
                                   cpus, memory_mb, gen=gen, security=app.security,
                                   pids_limit=self.workers.worker_pids_limit, epoch=epoch or 0)
            case StartContainer(_, name):
                started[name] = host.start(name)
            case AddServer(_, node, container, _, _, addr, cid):
                if addr is None or cid is None:
                    ran = started.get(container) or host.inspect(container)
                    if not ran.ip:
                        raise errors.Conflict(f"container {container} has no address on the "
                                              f"network {host.network}")
                    addr, cid = ran.ip, ran.id
                action = dataclasses.replace(action, addr=addr, cid=cid)
                run_haproxy_step(self.haproxy, action)
                return describe(action)
            case _:
                raise TypeError(f"unknown action {action!r}")
        return None

    # ------------------------------------------------------------ loop
    def run(self, stop: threading.Event) -> None:
        """Reconcile until ``stop`` is set (see the module docstring)."""
        self.hosts.link(self.host)            # start connecting at once
        while not stop.is_set():
            self.wake.clear()
            try:
                result = self.reconcile_once()
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                self.reporter.error("controller.error", f"host/{self.host}",
                                    f"host {self.host}: a reconcile pass failed: {type(exc).__name__}: {exc}",
                                    key="pass", exc=exc)
                result = None
            self.reporter.tick()
            acted = result is not None and bool(result) and len(self.last_failures) < len(result.actions)
            timeout = self.interval
            if acted:
                timeout = FOLLOW_UP_DELAY
            elif result is not None and result.wake_at is not None:
                timeout = max(0.05, min(timeout, result.wake_at - time.time()))
            self.wake.wait(timeout)

    # ------------------------------------------------------------ suspects' CPU
    def _cpu_of_suspects(self, containers, server_of, now: float) -> dict[str, float]:
        """CPUs lately used by each worker that is DOWN after having passed its
        check (hung, or only busy?), from two readings of its cgroup over the
        link at least ``hung_probe`` seconds apart (a shorter window can catch
        a busy worker while its machine gives it no CPU: a VM the host did not
        run for a moment looked hung). A first reading gives no figure yet."""
        suspects = [c.id for c in containers
                    if healing.suspect(c, server_of.get((backend_name(c.app), server_name(c.node, c.id))),
                                       self.records.health.get((c.pod, c.node), NodeHealth()))]
        if not suspects:
            self._cpu_samples.clear()
            return {}
        try:
            usage = self.hosts.get(self.host).cpu_usage(suspects)
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot read the CPU use of %s: %s", ", ".join(s[:12] for s in suspects), exc)
            return {}
        rates = {}
        for cid, ns in usage.items():
            before = self._cpu_samples.get(cid)
            if before is not None and now - before[0] < self.policy.hung_probe:
                continue                       # too soon: keep the first reading
            if before is not None:
                rates[cid] = max(0, ns - before[1]) / 1e9 / (now - before[0])
            self._cpu_samples[cid] = (now, ns)
        return rates

    # ------------------------------------------------------------ reporting
    def _event(self, kind: str, subject: str, message: str) -> None:
        try:
            self.store.record_event(kind, subject, message)
        except errors.SimpleCloudError as exc:
            self.log.warning("cannot record event %s (%s): %s", kind, message, exc)

    def _report_problem(self, message: str) -> None:
        self.log.warning(message)
        if not self._problem:
            self._problem = message
            self._event("controller.error", f"host/{self.host}", message)

    def _report_cleared(self, message: str) -> None:
        if self._problem:
            self._problem = ""
            self.log.info(message)
            self._event("controller.recovered", f"host/{self.host}", message)


def _promotion(steps: list[Action]) -> bool:
    """A chain that only changes server states, after a thaw at most (a warm node promoted)."""
    return all(isinstance(a, SetServerState) or (isinstance(a, FreezeContainer) and not a.frozen) for a in steps)


def action_kind(action: Action) -> str:
    """A step's kind in snake case, e.g. "add_server" (metrics label)."""
    name = type(action).__name__
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")


def _kind(action: Action) -> str:
    """Event kind of an executed step, e.g. "controller.add_server"."""
    return "controller." + action_kind(action)
