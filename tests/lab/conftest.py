"""Shared helpers for the tests that drive the running lab (`make up`) from
outside: only through the `cloud` CLI (the virtual IP's API, then
127.0.0.1:5000) and HTTP to the entry point (the virtual IP's HAProxy,
bench/labkit.py's EDGE); the machines as the inventory names them.

The API records *desired* state, so every observable effect (a node
answering through HAProxy, a node gone) is polled for with a bound
(`wait_until`).

Bounds and load are the container lab's; a lab whose machines are slower
says how much in lab.yml (``slowdown``, e.g. 10 for VMs under TCG): every
bound is multiplied by it (``budget``), every load rate divided by it
(``load_rate``), so each test asks the same of a slower lab."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from bench.labkit import EDGE, LAB, SSH_CONFIG, leader, pod_host  # noqa: F401 - the tests' too
from playbooks.provision import lab_settings, slowdown
from tests.turns import take_dockerd_turn

ROOT = Path(__file__).resolve().parents[2]
CLOUD = ROOT / ".venv" / "bin" / "cloud"
API = "http://127.0.0.1:5000"           # the first manager's API, published (a shortcut to one manager)
PROVIDER = lab_settings()["provider"]   # the running lab's (LAB_PROVIDER, its machines, lab.yml)
SLOWDOWN = slowdown(PROVIDER)   # lab.yml: how many times slower than the container lab this lab is


def budget(seconds: float) -> int:
    """A bound of the container lab, in this lab's time."""
    return int(seconds * SLOWDOWN)


def load_rate(per_second: float) -> float:
    """A request rate of the container lab, for this lab's capacity (a
    closed-loop load: one request at a time, see ``Load``)."""
    return per_second / SLOWDOWN


LIGHT_ANSWER_S = 0.011   # one /light answer by an idle light node on the container lab (bench/README.md)


def answer_slowdown(path: str = "/light", reference_s: float = LIGHT_ANSWER_S, samples: int = 5) -> float:
    """How many times slower than on the container lab ``path`` is answered
    here, now: the median of ``samples`` GETs one after another, over
    ``reference_s`` (at least 1). An open-loop load (``OpenLoop``) must be
    sized by this, not by ``SLOWDOWN``: it does not wait for answers, and a
    job's CPU work is slowed far more than the machines' start-up (VMs under
    TCG: a light answer 100-200 times, a worker's start about 10 times)."""
    times = []
    for _ in range(samples):
        started = time.monotonic()
        status, body = get(path)
        assert status == 200, f"{path} must be served to measure it: {status} {body}"
        times.append(time.monotonic() - started)
    return max(1.0, sorted(times)[len(times) // 2] / reference_s)


CONVERGE = budget(90)   # seconds the controller may take to make a change visible


def pytest_collection_modifyitems(config, items):
    """Every test in this directory needs the lab."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.lab)


# ---------------------------------------------------------------- the CLI

def cloud(*args: str, env: dict | None = None, timeout: float = 120) -> tuple[int, str, str]:
    """Run `cloud ARGS...` in the checkout (it finds .simplecloud/ there);
    returns (exit code, stdout, stderr). ``timeout`` is the container lab's
    (see ``budget``)."""
    run = subprocess.run([str(CLOUD), *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=budget(timeout), env=dict(os.environ, **(env or {})))
    return run.returncode, run.stdout, run.stderr


def cloud_ok(*args: str, **kw) -> str:
    """`cloud ARGS...` that must succeed; returns stdout."""
    rc, out, err = cloud(*args, **kw)
    assert rc == 0, f"cloud {' '.join(args)} -> exit {rc}: {err.strip() or out.strip()}"
    return out


def cloud_json(*args: str, **kw):
    """`cloud ARGS... --json` that must succeed; returns the parsed answer."""
    return json.loads(cloud_ok(*args, "--json", **kw))


def app_nodes(app: str) -> list[dict]:
    """Node records of an app (every pod)."""
    return [n for n in cloud_json("node", "ls") if n["app"] == app]


def pod_nodes(pod: str) -> list[dict]:
    return cloud_json("node", "ls", pod)


def app_names() -> set[str]:
    return {a["name"] for a in cloud_json("app", "ls")}


def snapshot() -> dict:
    """Desired state, for "nothing changed" checks."""
    return {
        "nodes": sorted((n["pod"], n["name"], n["app"], n["status"]) for n in cloud_json("node", "ls")),
        "apps": sorted((a["name"], a["pod"], a["replicas"]) for a in cloud_json("app", "ls")),
        "pods": sorted((p["name"], p["used"]) for p in cloud_json("pod", "ls")),
    }


# ---------------------------------------------------------------- waiting

def wait_until(predicate, timeout: float = CONVERGE, interval: float = 0.5):
    """Call `predicate()` until it returns something truthy (returned) or
    `timeout` seconds pass (then its last, falsy, value is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---------------------------------------------------------------- HTTP through HAProxy

def get(path: str, host: str | None = None, timeout: float = 10) -> tuple[int, dict | str | None]:
    """One GET to HAProxy on a new connection: (status, JSON body or text);
    status 0 if the request itself failed. ``timeout`` is the container
    lab's (see ``budget``): a medium job's answer takes 0.1 s there, 9 s on
    the VM lab under TCG."""
    headers = {"Connection": "close"}
    if host:
        headers["Host"] = host
    try:
        r = requests.get(EDGE + path, headers=headers, timeout=budget(timeout))
    except requests.RequestException as exc:
        return 0, str(exc)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text


def responses(path: str, n_requests: int, host: str | None = None) -> list[tuple[int, object]]:
    return [get(path, host) for _ in range(n_requests)]


def nodes_seen(path: str, n_requests: int, host: str | None = None) -> Counter:
    """Send `n_requests` GETs; Counter of the "node" values of the JSON answers
    (answers without one are not counted)."""
    seen = Counter()
    for status, body in responses(path, n_requests, host):
        if status == 200 and isinstance(body, dict) and "node" in body:
            seen[body["node"]] += 1
    return seen


def statuses_seen(path: str, n_requests: int, host: str | None = None) -> Counter:
    """Counter of the HTTP status codes of `n_requests` GETs (0 = no answer)."""
    return Counter(status for status, _ in responses(path, n_requests, host))


def wait_served_by(path: str, expected: set[str], host: str | None = None,
                   timeout: float = CONVERGE, burst: int | None = None) -> Counter:
    """Poll until the nodes answering `path` are exactly `expected`; returns
    the last Counter (assert on it)."""
    burst = burst or max(4, 3 * len(expected))
    last = Counter()

    def check():
        nonlocal last
        last = nodes_seen(path, burst, host)
        return set(last) == expected
    wait_until(check, timeout)
    return last


def wait_unserved(path: str, host: str | None = None, timeout: float = CONVERGE,
                  burst: int = 10) -> Counter:
    """Poll until a burst of requests to `path` all get 503 (no server);
    returns the last Counter of statuses."""
    last = Counter()

    def check():
        nonlocal last
        last = statuses_seen(path, burst, host)
        return set(last) == {503}
    wait_until(check, timeout)
    return last


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def lab():
    """The lab answers and is initialised (`cloud init` is idempotent)."""
    rc, out, err = cloud("init")
    if rc == 3:
        pytest.fail(f"the lab is not up: {err.strip()} (run `make up`)")
    assert rc == 0, err
    assert {"light", "medium", "heavy"} <= app_names()
    return True


@pytest.fixture
def light_empty(lab):
    """App light at 0 replicas, /light unserved; scaled back to 0 afterwards
    whatever the test did."""
    cloud_ok("app", "scale", "light", "0")
    last = wait_unserved("/light")
    assert set(last) == {503}, f"/light still served after scaling to 0: {last}"
    yield
    cloud("app", "scale", "light", "0")


# ---------------------------------------------------------------- the machines and load

def on_machine(machine: str, command: str, timeout: float = 60) -> str:
    """Run a shell command as root on a lab machine over SSH; returns stdout."""
    timeout = budget(timeout)
    run = subprocess.run(["ssh", "-F", str(SSH_CONFIG), machine, f"sudo sh -c {shlex.quote(command)}"],
                         capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"{machine}: {command} -> {run.returncode}: {run.stderr.strip()}"
    return run.stdout


def containers_of(machine: str, app: str) -> list[dict]:
    """Our worker containers of ``app`` on a pod host: name, state, node, gen."""
    out = on_machine(machine, "docker ps -a --filter label=simplecloud.app=" + app +
                     " --format '{{.Names}} {{.State}} {{.Label \"simplecloud.node\"}} "
                     "{{.Label \"simplecloud.gen\"}}'")
    return [dict(zip(("name", "state", "node", "gen"), line.split())) for line in out.splitlines() if line]


def pod_containers(pod: str, app: str) -> list[dict]:
    """Our worker containers of ``app`` on every host of ``pod`` in the inventory (a pod is a pool of
    hosts): name, state, node, gen and host, sorted by node."""
    found = [{**c, "host": host} for host in LAB.pods[pod] for c in containers_of(host, app)]
    return sorted(found, key=lambda c: (c["node"], c["name"]))


def freeze(machine: str, frozen: bool) -> None:
    """Freeze (or thaw) a whole lab machine: `docker pause` of its container,
    or `virsh suspend` of its VM (a libvirt lab; domain simplecloud-NAME)."""
    if PROVIDER == "libvirt":
        argv = ["virsh", "-c", "qemu:///system", "suspend" if frozen else "resume", f"simplecloud-{machine}"]
    else:
        argv = ["docker", "pause" if frozen else "unpause", f"simplecloud-{machine}"]
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def power(machine: str, running: bool) -> None:
    """A whole lab machine dies (`docker kill` of its container, `virsh
    destroy` of its VM: no clean shutdown) or is started again."""
    if PROVIDER == "libvirt":
        argv = ["virsh", "-c", "qemu:///system", "start" if running else "destroy", f"simplecloud-{machine}"]
    else:
        argv = ["docker", "start" if running else "kill", f"simplecloud-{machine}"]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


class Load:
    """A steady stream of GETs through HAProxy in the background, counting
    the failures (anything but 200, or no answer). Bounded: at most
    ``limit_s`` seconds, ``rate`` requests per second."""

    def __init__(self, path: str, rate: float = 20, limit_s: float = 300, host: str | None = None):
        """``rate`` and ``limit_s`` are the container lab's (see ``budget``)."""
        self.path, self.rate, self.limit_s, self.host = path, load_rate(rate), budget(limit_s), host
        self.sent, self.failures, self.nodes = 0, [], Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.limit_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            status, body = get(self.path, self.host, timeout=30)
            self.sent += 1
            if status != 200:
                self.failures.append((round(time.time(), 2), status, str(body)[:120]))
            elif isinstance(body, dict) and "node" in body:
                self.nodes[body["node"]] += 1
            self._stop.wait(1 / self.rate)

    def more(self, count: int = 20) -> None:
        """Wait until ``count`` more requests were sent (bounded by the load's own limit)."""
        target = self.sent + count
        wait_until(lambda: self.sent >= target or not self._thread.is_alive(), timeout=count / self.rate * 5 + 10)

    def __enter__(self):
        self._thread.start()
        self.more(5)                       # it runs before whatever the test does
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=60)


def pytest_configure(config):
    """Take this machine's dockerd turn before anything starts (tests/turns.py)."""
    take_dockerd_turn("lab")
