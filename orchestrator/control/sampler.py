"""The sampler: the figures the autoscaler reads, straight from HAProxy and the pod hosts.

Every ``interval`` seconds (``metrics_interval``, 2 s by default) ``sample()``
takes one :class:`~orchestrator.core.readings.Reading`:

1. **HAProxy**: one ``show stat`` on the admin socket: per backend the
   request counter, requests in progress and queued, the servers UP.
2. **CPU**: the servers UP are the serving containers (a server is named
   ``<node>.<first 10 of the container id>``); their apps and pods (from etcd)
   give the hosts each one may be on (its pod's) and its CPU limit. Each host
   is asked once, over its link, for the CPU time of those containers (it
   answers for the ones it has); all hosts side by side,
   and the sample waits for them at most ``host_timeout`` seconds. A host
   that is down answers at once (its link says so); one that is slow is left
   out of this sample and of the next ones until its read has returned, so it
   never holds up the others. CPU % = the CPU time used since the previous
   reading of that container / (the time between them × its CPU limit). The
   CPUs so used on each host, summed, are ``host_cpu()`` (``cloud host ls``).
3. **Response times** arrive on their own: HAProxy sends one log line per
   request to the ``LogReceiver`` (edges/haproxy_log.py), which keeps them in
   ``self.latency``.

The last ``history`` seconds of readings are kept. ``window(app, seconds,
desired)`` averages those of the last ``seconds`` into the
``core.autoscale.Sample`` the decision reads; ``figures()`` gives the same
per app as plain dicts (for the dashboard and a Prometheus endpoint), and
``series()`` the kept history in fixed buckets (the dashboard's sparklines).

``start()`` runs ``sample()`` in a thread and opens the log receiver (if
``haproxy_log_port`` is set; ``listen()`` opens it alone); ``close()`` stops
both. Nothing here decides.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from orchestrator.control.reporting import Reporter
from orchestrator.core import errors
from orchestrator.core.autoscale import Sample
from orchestrator.core.haproxy_stats import BackendStats, CounterSum
from orchestrator.core.naming import backend_name, parse_server_name
from orchestrator.core.readings import (
    LatencyWindow,
    Reading,
    cpu_percent,
    in_window,
    series,
    summarize,
)
from orchestrator.edges.haproxy_log import APP_PREFIX, LogReceiver
from orchestrator.edges.protocols import StoreProtocol

log = logging.getLogger(__name__)

HISTORY = 120.0          # seconds of readings (and response times) kept
FIGURES_WINDOW = 10.0    # seconds averaged by figures()

Target = tuple[str, str, float]   # (container id prefix, backend, CPU limit of its node)


class Sampler:
    """Samples HAProxy and the pod hosts; answers windows of readings.

    ``store``: reads apps and pods (for each serving container's host and CPU
    limit); ``haproxy``: the driver (``backend_stats``); ``hosts``: anything
    whose ``get(host name)`` gives a DockerHost (a ``HostPool``, or a dict);
    ``clock``: monotonic seconds, the same for readings and response times.
    """

    def __init__(self, store: StoreProtocol, haproxy: Any, hosts: Any, interval: float, log_port: int = 0,
                 clock: Callable[[], float] = time.monotonic, history: float = HISTORY,
                 peers: Callable[[], dict[str, dict[str, BackendStats] | None]] | None = None):
        """``interval``: seconds between samples; ``log_port``: the UDP port
        HAProxy sends its request log to (``haproxy_log_port``; 0: none);
        ``peers()``: the other managers' HAProxy counters (edges/peers.py;
        None: this manager's HAProxy is the only way in), added to this one's
        (``CounterSum``)."""
        self.store = store
        self.haproxy = haproxy
        self.hosts = hosts
        self.interval = interval
        self.log_port = log_port
        self.clock = clock
        self.history = history
        self.host_timeout = interval
        self.latency = LatencyWindow(history)
        self._readings: deque[Reading] = deque()
        self._lock = threading.Lock()              # the readings (sample vs readers)
        self._sampling = threading.Lock()          # one sample() at a time
        self._cpu_seen: dict[str, tuple[float, int]] = {}   # container → (time, CPU ns)
        self._busy: dict[str, Future] = {}         # host → its CPU read (may still run)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="metrics-host")
        self._problems: dict[str, str] = {}        # what is failing now (logged once)
        self._known: frozenset[str] | None = None  # the app backends of HAProxy's last answer (None: none yet)
        self.peers = peers
        self._sum = CounterSum()
        self._local: dict[str, BackendStats] = {}  # this manager's HAProxy alone, as last read
        self._receiver: LogReceiver | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.reporter = Reporter(store, log)

    # ------------------------------------------------------------ lifecycle
    def listen(self, port: int | None = None) -> int:
        """Open the request-log receiver on udp 127.0.0.1:``port`` (default:
        ``log_port``; 0 = any free port) and return the port.
        OSError if it cannot be bound."""
        if self._receiver is None:
            port = self.log_port if port is None else port
            self._receiver = LogReceiver(self.latency, port, clock=self.clock, known=self.known_backends).start()
        return self._receiver.port

    def known_backends(self) -> frozenset[str] | None:
        """The app backends HAProxy answered last (None before its first answer:
        then only the window's own bound holds)."""
        return self._known

    def start(self) -> Sampler:
        """Sample every ``interval`` in a thread; open the request-log
        receiver first if ``log_port`` is set (a port that cannot be
        bound is logged: p95 then stays unknown, the rest works)."""
        if self.log_port and self._receiver is None:
            try:
                self.listen()
            except OSError as exc:
                log.error("metrics: cannot receive HAProxy's request log on udp 127.0.0.1:%d "
                          "(%s); p95 stays unknown", self.log_port, exc)
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="metrics", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.host_timeout + 5)
            self._thread = None
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        interval = self.interval
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.sample()
            except Exception as exc:  # noqa: BLE001 - a bad sample must not end the sampling
                self.reporter.error("controller.error", "metrics", f"a metrics sample failed: "
                                    f"{type(exc).__name__}: {exc}", key="sample", exc=exc)
            self.reporter.tick()
            self._stop.wait(max(0.0, interval - (time.monotonic() - began)))

    # ------------------------------------------------------------ sampling
    def sample(self) -> Reading:
        """Take one reading of everything, keep it, and return it."""
        with self._sampling:
            now = self.clock()
            backends = self._read_haproxy()
            if backends is not None:
                self._known = frozenset(backends)
                self._local = backends
                if self.peers is not None:
                    backends = self._sum.add(backends, self.peers())
            cpu, on_hosts = self._read_cpu(backends) if backends else ({}, {})
            reading = Reading(time=now, backends=backends, cpu=cpu, hosts=on_hosts)
            with self._lock:
                self._readings.append(reading)
                while self._readings[0].time < now - self.history:
                    self._readings.popleft()
            self.latency.prune(now)
            return reading

    def local_backends(self) -> dict[str, BackendStats]:
        """This manager's HAProxy's app backends as last read (``GET /api/manager/backends``)."""
        return dict(self._local)

    def _read_haproxy(self) -> dict[str, BackendStats] | None:
        try:
            stats = self.haproxy.backend_stats()
        except errors.SimpleCloudError as exc:
            self._problem("haproxy", f"cannot read HAProxy's counters: {exc}")
            return None
        self._problem("haproxy", None)
        return {name: s for name, s in stats.items() if name.startswith(APP_PREFIX)}

    def _read_cpu(self, backends: dict[str, BackendStats]) -> tuple[dict[str, float], dict[str, float]]:
        """Mean CPU % of each backend's serving nodes that could be read twice,
        and the CPUs they used on each host."""
        targets = self._serving_containers(backends)
        usage = self._read_hosts({host: [cid for cid, _, _ in items]
                                  for host, items in targets.items()})
        percents: dict[str, list[float]] = {}
        on_hosts: dict[str, float] = {}
        counted: set[str] = set()                  # a container once, on the first host that has it
        for host, items in sorted(targets.items()):
            if host not in usage:
                continue
            at, used = usage[host]
            on_hosts[host] = 0.0
            for cid, backend, cpus in items:
                if cid not in used or cid in counted:
                    continue
                counted.add(cid)
                before = self._cpu_seen.get(cid)
                self._cpu_seen[cid] = (at, used[cid])
                pct = cpu_percent(before, (at, used[cid]), cpus) if before else None
                if pct is not None:
                    percents.setdefault(backend, []).append(pct)
                    on_hosts[host] += pct * cpus / 100.0
        serving = {cid for items in targets.values() for cid, _, _ in items}
        self._cpu_seen = {cid: v for cid, v in self._cpu_seen.items() if cid in serving}
        return {backend: sum(v) / len(v) for backend, v in percents.items()}, on_hosts

    def _serving_containers(self, backends: dict[str, BackendStats]) -> dict[str, list[Target]]:
        """Host → the serving containers that may be on it (from the servers UP:
        each on every host of its pod; a host answers for those it has)."""
        try:
            apps = {backend_name(a): a for a in self.store.list_apps()}
            pods = {p.name: p for p in self.store.list_pods()}
        except errors.SimpleCloudError as exc:
            self._problem("store", f"cannot read the apps for CPU figures: {exc}")
            return {}
        self._problem("store", None)
        targets: dict[str, list[Target]] = {}
        for backend, stats in backends.items():
            app = apps.get(backend)
            pod = pods.get(app.pod) if app else None
            if app is None or pod is None:
                continue
            cpus = app.limits(pod)[0]
            for server in stats.up:
                cid = parse_server_name(server)[1]
                for host in pod.hosts if cid else ():
                    targets.setdefault(host, []).append((cid, backend, cpus))
        return targets

    def _read_hosts(self, ids_by_host: dict[str, list[str]]) -> dict[str, tuple[float, dict[str, int]]]:
        """Each host's (time, {container: CPU ns}), all side by side, waiting
        at most ``host_timeout``; a host still busy with an earlier read is
        skipped, one that fails or is late is left out."""
        started: dict[str, Future] = {}
        for host, ids in ids_by_host.items():
            earlier = self._busy.get(host)
            if earlier is not None and not earlier.done():
                self._problem(f"host {host}", f"host {host} is slow to give CPU figures")
                continue
            started[host] = self._busy[host] = self._pool.submit(self._read_host, host, ids)
        if started:
            wait(started.values(), timeout=self.host_timeout)
        out = {}
        for host, future in started.items():
            if not future.done():
                self._problem(f"host {host}", f"host {host} gave no CPU figures within "
                              f"{self.host_timeout:g} s")
            elif future.exception() is not None:
                self._problem(f"host {host}", f"cannot read CPU use on host {host}: "
                              f"{future.exception()}")
            else:
                self._problem(f"host {host}", None)
                out[host] = future.result()
        return out

    def _read_host(self, host: str, ids: list[str]) -> tuple[float, dict[str, int]]:
        docker = self.hosts.get(host)
        if docker is None:
            raise errors.NotFound(f"no Docker host {host} to read CPU use from")
        before = self.clock()
        used = docker.cpu_usage(ids, timeout=self.host_timeout)
        return (before + self.clock()) / 2, used

    def _problem(self, key: str, message: str | None) -> None:
        """Log a failure once when it starts and once when it ends."""
        previous = self._problems.pop(key, None)
        if message is not None:
            self._problems[key] = message
            if previous is None:
                log.warning("metrics: %s", message)
        elif previous is not None:
            log.info("metrics: %s works again", key)

    # ------------------------------------------------------------ answers
    def readings(self) -> list[Reading]:
        """The readings kept (the last ``history`` seconds), oldest first."""
        with self._lock:
            return list(self._readings)

    def window(self, app: str, seconds: float, desired: int) -> Sample | None:
        """App ``app`` over the readings of the last ``seconds`` (see
        ``core.readings.summarize``); ``desired``: its replica count, for
        ``starting``. None if HAProxy has not reported its backend in that time."""
        backend = backend_name(app)
        now = self.clock()
        p95, _ = self.latency.p95(backend, since=now - seconds)
        return summarize(in_window(self.readings(), now, seconds), backend,
                         now=now, desired=desired, p95_ms=p95)

    def figures(self, seconds: float = FIGURES_WINDOW) -> dict[str, dict]:
        """Every app's latest figures over the last ``seconds``, as plain data:
        {app: {rps, requests, inflight, cpu, p95_ms, logged, serving, time}}
        (``logged``: requests with a response time in the window)."""
        now = self.clock()
        readings = self.readings()
        names = _current(readings)
        out = {}
        for backend in sorted(names):
            p95, logged = self.latency.p95(backend, since=now - seconds)
            sample = summarize(in_window(readings, now, seconds), backend,
                               now=now, desired=0, p95_ms=p95)
            if sample is not None:
                out[backend.removeprefix(APP_PREFIX)] = {
                    "rps": sample.rps, "requests": sample.requests, "inflight": sample.inflight,
                    "cpu": sample.cpu, "p95_ms": sample.p95_ms, "logged": logged,
                    "serving": sample.serving, "time": sample.time}
        return out

    def host_cpu(self, seconds: float = FIGURES_WINDOW) -> dict[str, float]:
        """CPUs used lately by the serving workers of each host that could be
        read: the mean over the readings of the last ``seconds``."""
        now = self.clock()
        sums: dict[str, list[float]] = {}
        for r in in_window(self.readings(), now, seconds):
            for host, cpus in r.hosts.items():
                sums.setdefault(host, []).append(cpus)
        return {host: sum(v) / len(v) for host, v in sums.items()}

    def series(self, seconds: float = HISTORY, step: float = 2.0) -> dict[str, list[dict]]:
        """Every app's last ``seconds`` in buckets of ``step`` seconds, oldest
        first: {app: [{t (seconds ago), rps, p95_ms, serving, inflight}]}
        (see ``core.readings.series``)."""
        now = self.clock()
        readings = self.readings()
        names = _current(readings)
        return {backend.removeprefix(APP_PREFIX):
                series(readings, self.latency.records(backend, since=now - seconds), backend,
                       now=now, seconds=seconds, step=step)
                for backend in sorted(names)}


def _current(readings: list[Reading]) -> set[str]:
    """The backends HAProxy has now (its newest answer): an app stopped since
    has no figures and no series any more (none on /metrics either)."""
    for reading in reversed(readings):
        if reading.backends is not None:
            return set(reading.backends)
    return set()
