"""Two real manager processes (`simplecloud-manager`) over a 3-member etcd,
each with its own HAProxy, one local dockerd as the pod host: exactly one
acts, every HAProxy serves the app, a killed leader is replaced, a frozen one
takes no action after it wakes (issue 21)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from .fixtures_edges import DOCKER_URL, free_port, haproxy_process
from .test_cli_live import _command, cloud

pytestmark = pytest.mark.integration

WAIT = 60.0
# what acting looks like in a manager's log: a reconciler's step, or a Docker call on a pod host
# (a follower's own HAProxy following the leader's is the mirror's, "orchestrator.lb: mirror: ...")
ACTIONS = re.compile(r"orchestrator\.reconciler\.\S+: (create|start|stop|remove|add server|delete server|"
                     r"set server)|orchestrator\.edges\.docker_host: host \S+: created")


class Manager:
    """One manager process, its HAProxy and its log."""

    def __init__(self, name: str, hap, env: dict, log_path: Path, labels: list[str]):
        self.name, self.hap, self.env, self.log_path, self.labels = name, hap, env, log_path, labels
        self.api = f"http://{env['SIMPLECLOUD_API_BIND']}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(_command("simplecloud-manager", "orchestrator.server") + self.labels,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(lambda: _ok(self.api + "/api/health"), f"manager {self.name} to answer")

    def log(self) -> str:
        return self.log_path.read_text()

    def leads(self) -> bool:
        try:
            text = requests.get(self.api + "/metrics", timeout=2).text
        except requests.RequestException:
            return False
        return re.search(r"^simplecloud_leader 1\.0$", text, re.M) is not None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def wait_until(check, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout}s")


@contextlib.contextmanager
def two_managers(etcd_cluster, test_network, test_labels, tmp_path):
    prefix = f"/scha-{uuid.uuid4().hex[:10]}/"
    token_file = tmp_path / "token"
    labels = [arg for key, value in test_labels.items() for arg in ("--label", f"{key}={value}")]
    managers: list[Manager] = []
    apis = {name: f"127.0.0.1:{free_port()}" for name in ("manager-1", "manager-2")}
    with contextlib.ExitStack() as stack:
        for i, name in enumerate(("manager-1", "manager-2")):
            hap = stack.enter_context(haproxy_process(test_network))
            hs = hap.settings.flat()
            host, port = etcd_cluster.endpoints(first=i)[0]
            env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLECLOUD_")}
            env.update({"SIMPLECLOUD_" + n.upper(): str(hs[n]) for n in (
                "pod_network", "haproxy_config", "haproxy_admin_socket", "haproxy_master_socket",
                "haproxy_bin", "haproxy_state_file", "frontend_bind", "stats_bind")})
            env.update(SIMPLECLOUD_ETCD_HOST=host, SIMPLECLOUD_ETCD_PORT=str(port),
                       SIMPLECLOUD_ETCD_PREFIX=prefix, SIMPLECLOUD_TOKEN_FILE=str(token_file),
                       SIMPLECLOUD_API_BIND=apis[name],
                       SIMPLECLOUD_MANAGERS=json.dumps({n: f"http://{a}" for n, a in apis.items()}),
                       SIMPLECLOUD_WAKER_PORT=str(free_port()), SIMPLECLOUD_HAPROXY_LOG_PORT="0",
                       SIMPLECLOUD_DOCKER_HOSTS=json.dumps({"*": DOCKER_URL}),
                       SIMPLECLOUD_RECONCILE_INTERVAL="1", SIMPLECLOUD_MANAGER_NAME=name)
            managers.append(Manager(name, hap, env, tmp_path / f"{name}.log", labels))
        lab = tmp_path / "lab"
        (lab / ".simplecloud").mkdir(parents=True)
        try:
            managers[0].start()
            wait_until(managers[0].leads, "manager-1 to lead")
            managers[1].start()
            (lab / ".simplecloud" / "token").write_text(token_file.read_text())
            yield managers, lab
        finally:
            for m in managers:
                m.stop()


def containers(docker_client, test_labels) -> list:
    filters = {"label": [f"{k}={v}" for k, v in test_labels.items()] + ["simplecloud.pod=light"]}
    return docker_client.containers.list(all=True, filters=filters, ignore_removed=True)


def served_by(url: str, count: int = 12) -> set[str]:
    nodes = set()
    for _ in range(count):
        try:
            r = requests.get(url + "/light", timeout=5)
        except requests.RequestException:
            continue
        if r.ok:
            nodes.add(r.json()["node"])
    return nodes


def scale(lab: Path, manager: Manager, replicas: int) -> None:
    code, _, err = cloud(lab, "app", "scale", "light", str(replicas), "--wait", "--timeout", "60",
                         "--api", manager.api)
    assert code == 0, err + "\n" + manager.log()[-3000:]


def test_one_manager_acts_every_haproxy_serves_and_a_killed_leader_is_replaced(
        etcd_cluster, test_network, test_labels, worker_images, docker_client, tmp_path):
    try:
        with two_managers(etcd_cluster, test_network, test_labels, tmp_path) as (ms, lab):
            first, second = ms
            assert cloud(lab, "init", "--api", first.api)[0] == 0
            scale(lab, second, 2)                     # any manager's API takes writes
            epoch = int(re.search(r"leads \(epoch (\d+)\)", first.log()).group(1))
            made = containers(docker_client, test_labels)
            assert len(made) == 2 and {c.labels["simplecloud.epoch"] for c in made} == {str(epoch)}
            assert not ACTIONS.search(second.log()), "the follower acted"
            assert "mirror: add server app_light/light-1" in second.log()
            # the follower's HAProxy mirrors the leader's servers and serves through its own checks
            wait_until(lambda: served_by(second.hap.url) == {"light-1", "light-2"},
                       "the follower's HAProxy to serve both nodes")
            # requests that come in through the follower's HAProxy only: the leader counts them too (its
            # autoscaler reads them); the follower tells its own counters
            auth = {"Authorization": "Bearer " + (lab / ".simplecloud" / "token").read_text().strip()}

            def through_follower() -> int | None:
                answer = requests.get(second.api + "/api/manager/backends", headers=auth, timeout=5).json()
                assert answer["manager"] == "manager-2"
                counters = answer["backends"].get("app_light")    # None until a sample has read the mirrored backend
                return None if counters is None else counters["stot"]
            wait_until(lambda: through_follower() is not None, "the follower to have sampled the light backend")
            before = through_follower()
            for _ in range(10):
                assert requests.get(second.hap.url + "/light", timeout=5).ok
            wait_until(lambda: (through_follower() or 0) - before >= 10, "the follower to have sampled its counters")

            def leader_counted():
                figures = requests.get(first.api + "/api/dashboard", headers=auth, timeout=5).json()["figures"]
                return (figures.get("light", {}).get("requests") or 0) >= 10
            wait_until(leader_counted, "the leader to count the requests that came through the follower")

            view = json.loads(cloud(lab, "manager", "ls", "--json", "--api", second.api)[1])
            assert view["leader"]["name"] == "manager-1" and view["leader"]["epoch"] == epoch
            assert [(m["name"], m["reachable"], m["leader"]) for m in view["managers"]] == [
                ("manager-1", True, True), ("manager-2", True, False)]
            assert view["etcd"]["healthy"] == 3

            first.proc.kill()                          # the leader's manager dies (kill -9)
            first.proc.wait()
            wait_until(second.leads, "manager-2 to take over")
            # the CLI knows both managers: the dead one first, it goes on to the next
            code, _, err = cloud(lab, "app", "scale", "light", "3", "--wait", "--timeout", "60",
                                 "--api", f"{first.api},{second.api}")
            assert code == 0, err
            made = containers(docker_client, test_labels)
            nodes = sorted(c.labels["simplecloud.node"] for c in made if c.status == "running")
            assert nodes == ["light-1", "light-2", "light-3"], nodes   # none twice, none missing
            assert served_by(second.hap.url, 20) == {"light-1", "light-2", "light-3"}

            first.start()                              # it comes back as a follower and mirrors
            time.sleep(2)
            assert second.leads() and not first.leads()
            wait_until(lambda: served_by(first.hap.url, 20) == {"light-1", "light-2", "light-3"},
                       "the returned manager's HAProxy to serve every node")
    finally:
        for c in containers(docker_client, test_labels):
            c.remove(force=True)


def test_a_frozen_leader_takes_no_action_after_it_wakes(etcd_cluster, test_network, test_labels,
                                                         worker_images, docker_client, tmp_path):
    try:
        with two_managers(etcd_cluster, test_network, test_labels, tmp_path) as (ms, lab):
            first, second = ms
            assert cloud(lab, "init", "--api", first.api)[0] == 0
            scale(lab, first, 1)
            first.proc.send_signal(signal.SIGSTOP)    # longer than its lease
            wait_until(second.leads, "manager-2 to take over from the frozen leader")
            scale(lab, second, 2)                     # desired state changes while it sleeps
            before = len(first.log())
            first.proc.send_signal(signal.SIGCONT)
            wait_until(lambda: "no longer leads" in first.log()[before:], "the woken leader to step down")
            time.sleep(3)                              # its reconcilers had work to do, were they allowed
            woke = first.log()[before:]
            assert not ACTIONS.search(woke), woke
            running = [c for c in containers(docker_client, test_labels) if c.status == "running"]
            assert sorted(c.labels["simplecloud.node"] for c in running) == ["light-1", "light-2"]
            events = json.loads(cloud(lab, "events", "--limit", "50", "--json", "--api", second.api)[1])
            assert any(e["kind"] == "leader.lost" and "manager-1" in e["message"] for e in events)
            assert any(e["kind"] == "leader.elected" and "manager-2" in e["message"] for e in events)
    finally:
        for c in containers(docker_client, test_labels):
            c.remove(force=True)
