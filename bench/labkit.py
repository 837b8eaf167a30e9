"""What the lab benchmarks share: the `cloud` CLI, HTTP through HAProxy,
commands on the lab machines, and an open-loop load whose Poisson arrival
times come from `cloud bench`'s own generator (orchestrator/loadgen/schedule.py)
and whose percentiles are `cloud bench`'s (orchestrator/loadgen/report.py).

Everything aims at the lab's own machines: the entry point's virtual IP
(HAProxy of whichever manager holds it; the lab's inventory names it), the
API through the CLI (the virtual IP, then 127.0.0.1:5000), SSH to the
machines; every wait and every load is bounded. The machines are named by
the inventory (``LAB``: ``pod_host("light")`` is light's first host).
"""
from __future__ import annotations

import argparse
import inspect
import json
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from orchestrator.loadgen import report, schedule

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))       # playbooks/ (no package of the wheel) when run from bench/
from playbooks.inventory import Inventory  # noqa: E402
from playbooks.provision import lab_paths  # noqa: E402

CLOUD = ROOT / ".venv" / "bin" / "cloud"
INVENTORY, STATE_DIR = lab_paths()
LAB = Inventory.load(INVENTORY)
SSH_CONFIG = STATE_DIR / "ssh-config"
# The entry point: the virtual IP (a lab without one: the first manager's published HAProxy).
EDGE = f"http://{LAB.vip}" if LAB.vip else "http://127.0.0.1:8080"
TIMEOUT = 180            # bound on every wait (s)


def pod_host(pod: str) -> str:
    """The first host of ``pod`` in the inventory (where `cloud init` puts it)."""
    return LAB.pods[pod][0]


def leader() -> str:
    """The manager whose orchestrator leads now (`cloud manager ls`)."""
    return cloud_json("manager", "ls")["leader"]["name"]


def cloud(*args: str, check: bool = True) -> str:
    run = subprocess.run([str(CLOUD), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if check and run.returncode != 0:
        sys.exit(f"cloud {' '.join(args)} failed (exit {run.returncode}): {run.stderr.strip()}")
    return run.stdout


def cloud_json(*args: str):
    return json.loads(cloud(*args, "--json"))


def on(machine: str, command: str, timeout: float = 120, check: bool = True) -> str:
    """A shell command as root on a lab machine (over SSH, as a user would)."""
    run = subprocess.run(["ssh", "-F", str(SSH_CONFIG), machine, f"sudo sh -c {shlex.quote(command)}"],
                         capture_output=True, text=True, timeout=timeout)
    if check and run.returncode != 0:
        raise RuntimeError(f"{machine}: {command}: exit {run.returncode}: {run.stderr.strip()[:300]}")
    return run.stdout


def fetch(path: str, timeout: float = 30) -> tuple[int, str | None]:
    """(status, serving node or None); status 0 when no HTTP answer came, and
    then what came instead (the exception, e.g. ReadTimeout, ConnectionError)."""
    try:
        r = requests.get(EDGE + path, headers={"Connection": "close"}, timeout=timeout)
    except requests.RequestException as e:
        return 0, f"{type(e).__name__}: {str(e)[-80:]}"
    try:
        return r.status_code, (r.json().get("node") if r.status_code == 200 else None)
    except ValueError:
        return r.status_code, None


def get(path: str, timeout: float = 30) -> tuple[int, str | None]:
    """(status, serving node or None); status 0 when no HTTP answer came."""
    status, node = fetch(path, timeout)
    return status, (node if status else None)


def wait(predicate, timeout: float = TIMEOUT, interval: float = 0.05):
    """Poll until ``predicate()`` is truthy; its value, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def nodes_answering(path: str, requests_: int = 40, workers: int = 8) -> Counter:
    with ThreadPoolExecutor(workers) as pool:
        return Counter(node for status, node in pool.map(lambda _: get(path), range(requests_))
                       if status == 200 and node)


def live_restore(machine: str, enabled: bool) -> None:
    """Docker's live-restore on a lab machine's engine switched (Swarm refuses to run with it),
    the engine restarted. The file keeps the role's own text (role docker_engine's template)
    but for that value, so a later provisioning finds nothing to change."""
    want, other = ("true", "false") if enabled else ("false", "true")
    on(machine, f"sed -i 's/\"live-restore\": *{other}/\"live-restore\": {want}/' /etc/docker/daemon.json"
                " && systemctl reset-failed docker; systemctl restart docker", timeout=120)


def containers(machine: str, app: str, running_only: bool = False) -> list[str]:
    flag = "" if running_only else "-a"
    out = on(machine, f"docker ps {flag} -q --filter label=simplecloud.app={app}")
    return out.split()


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank ``p`` percentile of ``values`` (as `cloud bench` reports them); None for none."""
    return report.percentile(sorted(values), p)


class OpenLoop:
    """Open-loop load: GETs sent at Poisson arrival times (exponential gaps,
    mean 1/rate), whatever the answers do; latency counted from each
    request's *scheduled* time (no coordinated omission). Runs at most
    ``limit_s`` seconds. Records (scheduled time, status, node, latency); a
    request not answered within ``timeout`` seconds has status 0."""

    def __init__(self, path: str, rate: float, limit_s: float = 300, workers: int = 64, seed: int = 1,
                 timeout: float = 30):
        self.path, self.rate, self.limit_s, self.seed, self.timeout = path, rate, limit_s, seed, timeout
        self.samples: list[tuple[float, int, str | None, float]] = []
        self._errors: dict[float, str | None] = {}    # scheduled time -> what came instead of an answer
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(workers)
        self._thread = threading.Thread(target=self._schedule, daemon=True)
        self._lock = threading.Lock()

    def _one(self, scheduled: float) -> None:
        status, node = fetch(self.path, self.timeout)
        with self._lock:
            if status == 0:
                self._errors[scheduled], node = node, None
            self.samples.append((scheduled, status, node, time.time() - scheduled))

    def _schedule(self) -> None:
        start = time.time()
        for offset in schedule.arrivals(self.rate, self.limit_s, self.seed):
            t = start + offset
            delay = t - time.time()
            if self._stop.is_set() or (delay > 0 and self._stop.wait(delay)):
                break
            self._pool.submit(self._one, t)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        self._pool.shutdown(wait=True)

    @property
    def failures(self) -> list[tuple[float, int, float, str | None]]:
        """(scheduled time, status, seconds from then to the end, the error
        when no HTTP answer came) of each request not answered 200."""
        with self._lock:
            return [(round(s, 2), status, round(lat, 2), self._errors.get(s))
                    for s, status, _, lat in self.samples if status != 200]

    def served_by(self, node: str, after: float) -> float | None:
        """When the first answer by ``node`` *arrived*, of the requests sent after ``after``."""
        with self._lock:
            times = [s + lat for s, status, n, lat in self.samples if n == node and s > after and status == 200]
        return min(times) if times else None

    def window(self, start: float, seconds: float) -> list[tuple[int, float]]:
        """(status, latency) of the requests scheduled in [start, start + seconds)."""
        with self._lock:
            return [(status, lat) for s, status, _, lat in self.samples if start <= s < start + seconds]

    def sent(self) -> int:
        with self._lock:
            return len(self.samples)


def run_scenarios(doc: str, scenarios: dict, results: Path, cleanup=lambda: None) -> int:
    """A bench's command line: ``--only`` some of ``scenarios`` (name -> function
    returning its figures), each printed as it ends; every figure written to
    ``results`` as JSON, and ``cleanup()`` run, whatever happens."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(scenarios), help="comma-separated scenarios")
    parser.add_argument("--rounds", type=int, help="rounds of each scenario that has rounds (default: its own)")
    args = parser.parse_args()
    cloud("init")
    figures: dict = {"when": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        for name in args.only.split(","):
            print(f"==> {name}", flush=True)
            t0 = time.time()
            rounds = {"rounds": args.rounds} if args.rounds and "rounds" in \
                inspect.signature(scenarios[name]).parameters else {}
            figures[name] = scenarios[name](**rounds)
            print(json.dumps(figures[name], indent=1), f"({time.time() - t0:.0f} s)", flush=True)
    finally:
        cleanup()
        results.parent.mkdir(exist_ok=True)
        results.write_text(json.dumps(figures, indent=1))
    print(f"results in {results.relative_to(ROOT)}")
    return 0
