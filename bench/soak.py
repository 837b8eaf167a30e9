#!/usr/bin/env python3
"""A soak: N minutes of churn on the running lab, through the `cloud` CLI and
HTTP as a user would, then verdicts (issue 19).

    .venv/bin/python bench/soak.py --minutes 30
    .venv/bin/python bench/soak.py --minutes 3 --api http://127.0.0.1:5000 --haproxy http://127.0.0.1:8080

What runs (all bounded, all aimed at 127.0.0.1 or the lab's own machines):

* open-loop GETs (Poisson arrivals: orchestrator/loadgen) on two apps of its
  own (``soak-a``, ``soak-b``, pod light) and on an autoscaled one
  (``soak-auto``, pod medium) whose load rises and falls;
* every ``--churn`` seconds one of: scale soak-a or soak-b up or down (never
  below 2: see MIN_REPLICAS), deploy or stop a transient app, a rolling update (``cloud app
  update --cpus``), a worker killed (``cloud node crash``);
* a few manager restarts (``systemctl restart simplecloud-manager`` on a
  manager machine that does not lead), all in the first half, so the last
  process lives through the second half and its growth can be read.

Every ``--sample`` seconds it samples: each manager's RSS, threads and open
files (/proc on its machine), etcd's size, quota and revision (/metrics),
HAProxy's servers against the desired nodes, the event ring. At the end, the
load stopped and the cluster settled, it prints the verdicts
(bench/soakkit.py), one ``VERDICT name PASS|FAIL detail`` line each, and
exits 1 if any failed. The lab's machines are found by the label
``simplecloud.lab=1`` on their containers (else through ``vagrant``);
a manager is a machine whose name holds "manager".
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import labkit, soakkit  # noqa: E402 - after the path: run as a script
from orchestrator.cli.client import DEFAULT_API, Client, resolve, resolve_ca  # noqa: E402
from orchestrator.core.haproxy_stats import parse_servers_state  # noqa: E402
from orchestrator.core.naming import parse_server_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APPS = ("soak-a", "soak-b")
AUTO, TRANSIENT = "soak-auto", "soak-t"
ADMIN_SOCKET = "/run/haproxy/admin.sock"
WAKER = "waker"          # the waker's server name in an app's backend (core/templates/haproxy.cfg.j2)
MIN_REPLICAS = 2         # every loaded app keeps a second node: a crash or a failed health check of its
                         # only node fails requests by design (docs/decisions.md, "Hardening": the soak)
METRICS = ("simplecloud_etcd_db_bytes", "simplecloud_etcd_quota_bytes", "simplecloud_etcd_revision")


# ------------------------------------------------------------ the lab's machines
class Lab:
    """The lab's machines: a command as root on one, by docker exec or vagrant ssh."""

    def __init__(self):
        found = subprocess.run(["docker", "ps", "--filter", "label=simplecloud.lab=1", "--format", "{{.Names}}"],
                               capture_output=True, text=True, timeout=30)
        names = [n for n in found.stdout.split() if n.startswith("simplecloud-")] if found.returncode == 0 else []
        self.docker = bool(names)
        if self.docker:
            self.machines = sorted(n.removeprefix("simplecloud-") for n in names)
        else:
            status = subprocess.run(["vagrant", "status", "--machine-readable"], cwd=ROOT, capture_output=True,
                                    text=True, timeout=120).stdout
            self.machines = sorted({line.split(",")[1] for line in status.splitlines()
                                    if ",state," in line and line.endswith(",running")})
        self.managers = [m for m in self.machines if "manager" in m]
        self.hosts = [m for m in self.machines if "manager" not in m]
        if not self.managers:
            sys.exit("soak: no lab manager found (containers labelled simplecloud.lab=1, or vagrant machines)")

    def run(self, machine: str, command: str, timeout: float = 60) -> str:
        argv = (["docker", "exec", f"simplecloud-{machine}", "sh", "-c", command] if self.docker else
                ["vagrant", "ssh", machine, "-c", f"sudo sh -c {shlex.quote(command)}"])
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{machine}: {command[:80]}: exit {done.returncode}: {done.stderr.strip()[:200]}")
        return done.stdout

    def manager_process(self, machine: str) -> soakkit.Process:
        pid = self.run(machine, "systemctl show -p MainPID --value simplecloud-manager").strip()
        if not pid or pid == "0":
            raise RuntimeError(f"{machine}: simplecloud-manager does not run")
        out = self.run(machine, f"echo Pid: {pid}; cat /proc/{pid}/status; echo ---; ls /proc/{pid}/fd | wc -l")
        status, _, fds = out.partition("---")
        return soakkit.parse_proc(status, fds)

    def servers(self, machine: str) -> dict[str, int]:
        """How many servers take requests per app backend on a manager."""
        return {backend: len(names) for backend, names in self.server_names(machine).items()}

    def server_names(self, machine: str) -> dict[str, list[str]]:
        """The servers that take requests (admin ready) per app backend on a manager; the
        waker (a backup server of an app that scales to zero) is no node and not counted."""
        script = (f"import socket; s = socket.socket(socket.AF_UNIX); s.connect('{ADMIN_SOCKET}'); "
                  "s.sendall(b'show servers state\\n'); s.shutdown(1); import sys; "
                  "sys.stdout.write(b''.join(iter(lambda: s.recv(65536), b'')).decode())")
        names: dict[str, list[str]] = {}
        for server in parse_servers_state(self.run(machine, f"python3 -c {shlex.quote(script)}")):
            if server.admin == "ready" and server.backend.startswith("app_") and server.name != WAKER:
                names.setdefault(server.backend, []).append(server.name)
        return {backend: sorted(found) for backend, found in sorted(names.items())}

    def containers(self) -> list[tuple[str, str]]:
        """(pod, node) of every worker container on every pod host."""
        out = []
        fmt = '{{.Label "simplecloud.pod"}} {{.Label "simplecloud.node"}}'
        for host in self.hosts:
            try:
                text = self.run(host, f"docker ps -a --filter label=simplecloud.managed=1 --format '{fmt}'")
            except RuntimeError:
                continue                        # not a pod host (no engine)
            out += [tuple(line.split()[:2]) for line in text.splitlines() if len(line.split()) >= 2]
        return out


# ------------------------------------------------------------ the user's side
class User:
    """The CLI and HTTP, as a user drives them; changes retried over manager restarts."""

    def __init__(self, api: str, token: str | None):
        self.api, self.token = api, token       # one address or several (the CLI's: each tried in turn)
        self.client = Client(api, token, timeout=10, ca=resolve_ca(None, os.environ))
        self.failed_changes: list[str] = []

    def cloud(self, *args: str, retries: int = 6) -> str:
        """A `cloud` command; retried while the manager does not answer (exit 3) or answers 503."""
        argv = [str(labkit.CLOUD), "--api", self.api, *args]
        env = {**os.environ, **({"SIMPLECLOUD_TOKEN": self.token} if self.token else {})}
        for attempt in range(retries):
            done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
            if done.returncode == 0:
                return done.stdout
            if done.returncode != 3 and "503" not in done.stderr and "etcd" not in done.stderr:
                break
            time.sleep(2 + attempt)
        self.failed_changes.append(f"cloud {' '.join(args)}: {done.stderr.strip()[:200]}")
        print(f"  change failed: cloud {' '.join(args)}: {done.stderr.strip()[:200]}", flush=True)
        return ""

    def json(self, path: str):
        """GET through the CLI's client: the first manager that can be connected to."""
        return self.client.call("GET", path)

    def metrics(self) -> dict[str, float]:
        self.client.call("GET", "/api/health")          # finds a manager that answers
        text = requests.get(self.client.api + "/metrics", timeout=10, verify=self.client.verify).text
        return soakkit.parse_metrics(text, METRICS)

    def desired(self) -> dict[str, int]:
        """ONLINE nodes per app."""
        counts: dict[str, int] = {}
        for node in self.json("/api/nodes"):
            if node["status"] == "ONLINE":
                counts[node["app"]] = counts.get(node["app"], 0) + 1
        return counts


# ------------------------------------------------------------ the soak
class Soak:
    def __init__(self, args: argparse.Namespace):
        self.args, self.rng = args, random.Random(args.seed)
        self.lab, self.user = Lab(), User(args.api, args.token)
        self.samples: list[soakkit.Sample] = []
        self.loads: list[labkit.OpenLoop] = []
        self.stop = threading.Event()
        self.replicas = {app: 2 for app in APPS}
        self.transient = False
        self.actions: list[tuple[float, str]] = []      # (when, what) of the churn, for the failures' report

    def did(self, text: str, at: float | None = None) -> None:
        """A change of the churn, begun ``at`` (default now): printed, and kept for the failures' report."""
        self.actions.append((at or time.time(), text))
        print(f"  {text}", flush=True)

    def setup(self) -> None:
        self.user.cloud("init")
        apps = {a["name"]: a for a in json.loads(self.user.cloud("app", "ls", "--json") or "[]")}
        if "light" not in apps:
            sys.exit("soak: the API lists no app 'light' (cloud init); is the manager up?")
        self.image = apps["light"]["image"]                # the light job, from the lab's registry
        for app, pod in ((APPS[0], "light"), (APPS[1], "light"), (AUTO, "medium")):
            if app not in apps:
                self.user.cloud("app", "deploy", app, "--image", self.image, "--pod", pod, "--replicas", "2",
                                "--port", "8000", "--path", f"/{app}", "--strip-path", "--health-path", "/health",
                                "--wait",
                                "--timeout", "240")
        self.user.cloud("app", "autoscale", AUTO, "--min", str(MIN_REPLICAS), "--max", "4",
                        "--rps", str(self.args.rate), "--window", "30")

    def start_load(self, app: str, rate: float, seconds: float) -> labkit.OpenLoop:
        # the route /APP, stripped: the light job's own /light behind it (its work per request)
        load = labkit.OpenLoop(f"/{app}/light", rate, limit_s=seconds, seed=self.rng.randrange(1 << 30))
        self.loads.append(load.__enter__())
        return load

    def sampler(self) -> None:
        while not self.stop.wait(self.args.sample):
            self.samples.append(self.sample())

    def sample(self) -> soakkit.Sample:
        s = soakkit.Sample(time=time.time())
        for machine in self.lab.managers:
            try:
                s.managers[machine] = self.lab.manager_process(machine)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired):
                pass                                    # restarting
        try:
            figures = self.user.metrics()
            s.etcd_db_bytes = figures.get("simplecloud_etcd_db_bytes")
            s.etcd_quota_bytes = figures.get("simplecloud_etcd_quota_bytes")
            s.etcd_revision = figures.get("simplecloud_etcd_revision")
            s.leader = (self.user.json("/api/managers").get("leader") or {}).get("name")
            s.servers_off = soakkit.servers_off(self.lab.servers(self.lab.managers[0]), self.user.desired())
            events = self.user.json("/api/events?limit=1000")
            s.events, s.errors = len(events), sum(1 for e in events if e["kind"] == "controller.error")
        except (requests.RequestException, ValueError, KeyError, TypeError, RuntimeError,
                subprocess.TimeoutExpired):
            pass                                        # the manager restarting: the next sample reads it
        return s

    def churn(self, until: float, restarts: list[float]) -> None:
        """One change every ``--churn`` seconds; the manager restarts at their times; the autoscaled
        app's load alternating between low and high."""
        high, phase = False, 0.0
        while time.time() < until:
            now = time.time()
            if restarts and now >= restarts[0]:
                restarts.pop(0)
                manager = self.follower(len(restarts))
                self.did(f"restart the manager on {manager}")
                self.lab.run(manager, "systemctl restart simplecloud-manager")
            elif now >= phase:
                high, phase = not high, now + 60
                rate = self.args.rate * (3 if high else 0.5)
                self.start_load(AUTO, rate, min(60, until - now))
            else:
                self.one_change()
            self.stop.wait(self.args.churn)

    def follower(self, turn: int) -> str:
        """A manager that does not lead (several managers): a process's growth is read over one
        role, and a leader's restart moves the leadership to another process mid-window (its
        threads and connections to every host come with it). Losing the leader: tests/lab/test_ha.py,
        bench/ha_bench.py."""
        try:
            leader = self.user.json("/api/managers").get("leader", {}).get("name")
        except Exception:                       # noqa: BLE001 - any failure: take turns as before
            leader = None
        others = [m for m in self.lab.managers if m != leader] or self.lab.managers
        return others[turn % len(others)]

    def one_change(self) -> None:
        began = time.time()
        action = self.rng.choice(["scale", "scale", "transient", "update", "crash"])
        app = self.rng.choice(APPS)
        if action == "scale":
            self.replicas[app] = max(MIN_REPLICAS, min(5, self.replicas[app] + self.rng.choice([-1, 1])))
            self.user.cloud("app", "scale", app, str(self.replicas[app]))
        elif action == "transient":
            if self.transient:
                self.user.cloud("app", "stop", TRANSIENT)
            else:
                self.user.cloud("app", "deploy", TRANSIENT, "--image", self.image, "--pod", "light",
                                "--replicas", "1", "--port", "8000", "--path", f"/{TRANSIENT}", "--strip-path",
                                "--health-path", "/health")
            self.transient = not self.transient
        elif action == "update":
            self.user.cloud("app", "update", app, "--cpus", self.rng.choice(["0.2", "0.25"]))
        else:
            nodes = [n for n in self.user.json("/api/nodes") if n["app"] == app and n["status"] == "ONLINE"]
            if len(nodes) >= MIN_REPLICAS:
                victim = self.rng.choice(nodes)
                self.user.cloud("node", "crash", victim["name"], "--pod", victim["pod"])
        self.did(f"{action} {app} ({self.replicas[app]} replicas)", began)

    def settle(self) -> int | None:
        """Wait (bounded) until HAProxy's servers match the desired nodes; how far off they are then."""
        off = None
        deadline = time.monotonic() + self.args.settle
        while time.monotonic() < deadline:
            try:
                off = soakkit.servers_off(self.lab.servers(self.lab.managers[0]), self.user.desired())
            except (requests.RequestException, RuntimeError, ValueError):
                off = None
            if off == 0:
                return 0
            time.sleep(2)
        self.explain_off()
        return off

    def explain_off(self) -> None:
        """What differs, on every manager: the nodes HAProxy serves that are not ONLINE, and the
        ONLINE nodes it does not serve (a failed verdict should say where to look)."""
        try:
            online = sorted((n["app"], n["name"]) for n in self.user.json("/api/nodes") if n["status"] == "ONLINE")
        except (requests.RequestException, RuntimeError, ValueError) as exc:
            print(f"  servers off: the nodes cannot be read: {exc}", flush=True)
            return
        for machine in self.lab.managers:
            try:
                served = sorted((backend.removeprefix("app_"), parse_server_name(name)[0])
                                for backend, names in self.lab.server_names(machine).items() for name in names)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
                print(f"  servers off on {machine}: cannot read its HAProxy: {exc}", flush=True)
                continue
            extra = sorted(set(served) - set(online)) + [k for k, n in Counter(served).items() if n > 1]
            missing = sorted(set(online) - set(served))
            print(f"  servers on {machine}: serving but not ONLINE {extra or 'none'}; "
                  f"ONLINE but not served {missing or 'none'}", flush=True)

    def run(self) -> int:
        minutes = self.args.minutes
        apis = " or ".join(self.args.api.split())
        print(f"soak: {minutes} min against {apis} and {labkit.EDGE}; managers {self.lab.managers}, "
              f"hosts {self.lab.hosts}", flush=True)
        self.setup()
        began = time.time()
        until = began + minutes * 60
        for app in APPS:
            self.start_load(app, self.args.rate, minutes * 60)
        count = max(1, round(minutes / 10))
        restarts = [began + minutes * 60 * (0.1 + 0.4 * i / count) for i in range(count)]
        sampling = threading.Thread(target=self.sampler, daemon=True)
        sampling.start()
        try:
            self.churn(until, restarts)
        finally:
            for load in self.loads:
                load.__exit__(None, None, None)
            self.stop.set()
            sampling.join(timeout=60)
        if self.transient:
            self.user.cloud("app", "stop", TRANSIENT)
        off = self.settle()
        self.samples.append(self.sample())
        desired = [(n["pod"], n["name"]) for n in self.user.json("/api/nodes")]
        orphans, duplicates = soakkit.containers_check(self.lab.containers(), desired)
        sent = sum(load.sent() for load in self.loads)
        failed = sum(len(load.failures) for load in self.loads)
        for line in soakkit.figures(self.samples):
            print(line)
        failures = [(at, load.path, status, took, error) for load in self.loads
                    for at, status, took, error in load.failures]
        for line in soakkit.failure_report(failures, self.actions, began):
            print(line)
        results = soakkit.verdicts(self.samples, sent=sent, failed=failed, orphans=orphans, duplicates=duplicates,
                                   servers_off_at_end=off, failed_changes=len(self.user.failed_changes))
        for verdict in results:
            print(verdict.line(), flush=True)
        if not self.args.keep:
            for app in (*APPS, AUTO):
                self.user.cloud("app", "stop", app)
        return 0 if all(v.passed for v in results) else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/soak.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="how long the churn lasts (default 30)")
    p.add_argument("--api", default=None, help=f"the API (default: $SIMPLECLOUD_API, .simplecloud/api, {DEFAULT_API})")
    p.add_argument("--token", default=None, help="the API token (default: $SIMPLECLOUD_TOKEN, .simplecloud/token)")
    p.add_argument("--haproxy", default="http://127.0.0.1:8080", help="HAProxy's entry point (default %(default)s)")
    p.add_argument("--rate", type=float, default=5.0, help="requests/s per app (default 5)")
    p.add_argument("--churn", type=float, default=20.0, help="seconds between changes (default 20)")
    p.add_argument("--sample", type=float, default=10.0, help="seconds between samples (default 10)")
    p.add_argument("--settle", type=float, default=240.0, help="seconds the end state may take (default 240)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="leave the soak's apps deployed")
    args = p.parse_args(argv)
    args.api = resolve(args.api, "SIMPLECLOUD_API", "api", DEFAULT_API)
    args.token = resolve(args.token, "SIMPLECLOUD_TOKEN", "token", None)
    labkit.EDGE = args.haproxy.rstrip("/")
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
