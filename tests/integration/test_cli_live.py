"""The `cloud` CLI as a user runs it: a subprocess talking HTTP to a real manager.

The manager is the real `simplecloud-manager --no-controller` process (waitress
on 127.0.0.1:<free port>) over the throwaway etcd, configured only through
SIMPLECLOUD_* environment variables. The CLI finds the API address and the
token in `.simplecloud/api` and `.simplecloud/token` of its working directory,
exactly as after `make up`. At the end the manager gets SIGTERM and must exit 0.

The last test runs the whole manager, controller included, against the real
dockerd and a real HAProxy: the seed commands must end in a worker container
that answers through the 127.0.0.1 frontend.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import etcd3
import pytest
import requests

from tests.integration.fixtures_edges import DOCKER_URL, free_port, wait_until

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def _command(name: str, module: str) -> list[str]:
    """The installed console script, or `python -m module` if it is not installed."""
    script = BIN / name
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


@contextlib.contextmanager
def running_manager(etcd_endpoint, tmp_path: Path, args: list[str], env_extra: dict | None = None):
    """Start `simplecloud-manager ARGS` configured by environment; yield (api_url, token, lab_dir).

    On exit: SIGTERM, which must end the process with status 0 within 15 s;
    then the manager's etcd prefix is deleted.
    """
    host, port = etcd_endpoint
    prefix = f"/sccli-{uuid.uuid4().hex[:10]}/"
    api_port = free_port()
    token_file = tmp_path / "etc" / "token"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLECLOUD_")}
    env.update(SIMPLECLOUD_ETCD_HOST=host, SIMPLECLOUD_ETCD_PORT=str(port), SIMPLECLOUD_ETCD_PREFIX=prefix,
               SIMPLECLOUD_TOKEN_FILE=str(token_file), SIMPLECLOUD_API_BIND=f"127.0.0.1:{api_port}",
               SIMPLECLOUD_DOCKER_HOSTS=json.dumps({"*": DOCKER_URL}), **(env_extra or {}))
    log_path = tmp_path / "manager.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(_command("simplecloud-manager", "orchestrator.server") + args,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{api}/api/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the manager did not start:\n" + log_path.read_text())
            time.sleep(0.1)
        lab = tmp_path / "lab"
        (lab / ".simplecloud").mkdir(parents=True)
        (lab / ".simplecloud" / "api").write_text(api + "\n")
        (lab / ".simplecloud" / "token").write_text(token_file.read_text())
        (lab / "sub" / "dir").mkdir(parents=True)
        yield api, token_file.read_text().strip(), lab
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        client = etcd3.client(host=host, port=port, timeout=5)
        try:
            client.delete_prefix(prefix)
        finally:
            client.close()


@pytest.fixture
def manager(etcd_endpoint, worker_images, tmp_path):
    """An API-only manager (--no-controller): the CLI's answers, no containers."""
    with running_manager(etcd_endpoint, tmp_path, ["--no-controller"]) as running:
        yield running


def cloud(lab: Path, *argv: str, env: dict | None = None, cwd: Path | None = None):
    """Run `cloud ARGV...` in the lab directory; returns (exit code, stdout, stderr)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLECLOUD_")}
    base.update(env or {})
    res = subprocess.run(_command("cloud", "orchestrator.cli") + list(argv), cwd=cwd or lab, env=base,
                         capture_output=True, text=True, timeout=60)
    assert "Traceback" not in res.stderr, res.stderr
    return res.returncode, res.stdout, res.stderr


def ok_json(lab: Path, *argv: str):
    code, out, err = cloud(lab, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_manager_writes_a_private_token(manager):
    api, token, lab = manager
    assert len(token) >= 43


def test_seed_commands_end_to_end(manager):
    _, _, lab = manager
    code, out, err = cloud(lab, "init")
    assert (code, err) == (0, "") and out.startswith("cluster initialized: created pods light, medium, heavy")
    assert cloud(lab, "init")[1] == "cluster already initialized: nothing to create\n"

    pods = ok_json(lab, "pod", "ls")
    assert [(p["name"], p["max_nodes"]) for p in pods] == [("heavy", 10), ("light", 20), ("medium", 15)]
    code, out, _ = cloud(lab, "pod", "ls")
    assert out.splitlines()[0].split() == ["NAME", "HOSTS", "REACH", "NODES", "PER", "HOST", "CPUS", "MEMORY",
                                           "APP", "STATUS"]

    code, out, _ = cloud(lab, "register", "n1", "light", cwd=lab / "sub" / "dir")   # config found upward
    assert code == 0 and "node 'n1' registered in pod 'light'" in out
    assert ok_json(lab, "register", "n2", "light")["status"] == "NEW"
    assert ok_json(lab, "launch", "light")["name"] == "n1"
    assert [n["name"] for n in ok_json(lab, "pause", "light")] == ["n1"]
    assert {n["name"]: n["status"] for n in ok_json(lab, "node", "ls", "light")} == {"n1": "PAUSED", "n2": "NEW"}
    code, out, _ = cloud(lab, "resume", "light")
    assert out == "pod 'light': 1 node resumed (n1)\n"
    assert cloud(lab, "rm", "n2", "light")[0] == 0
    code, out, _ = cloud(lab, "node", "ls")
    assert [line.split()[:4] for line in out.splitlines()] == [["NAME", "POD", "APP", "STATUS"],
                                                               ["n1", "light", "light", "ONLINE"]]
    status = ok_json(lab, "status")
    assert status["nodes"] == {"ONLINE": 1}
    code, out, _ = cloud(lab, "status")
    # an API-only manager: nobody leads, and status says so before the pods
    assert code == 0 and out.startswith("LEADER none right now") and "\n\nPODS\n" in out and "RECENT EVENTS" in out
    assert ok_json(lab, "events")[0]["kind"] == "node.removed"


def test_pod_register_and_rm(manager):
    _, _, lab = manager
    code, _, err = cloud(lab, "pod", "register", "batch", "--host", "pod-heavy", "--max-nodes", "2")
    assert code == 1 and err.startswith("cloud: host 'pod-heavy' is not known; the known hosts are none")
    cloud(lab, "init")                                    # registers the hosts of the built-in pods
    code, out, err = cloud(lab, "pod", "register", "batch", "--host", "pod-heavy", "--max-nodes", "2",
                         "--cpus", "1", "--memory", "512")
    assert (code, out, err) == (0, "pod 'batch' registered on host(s) pod-heavy: up to 2 nodes of 1 CPU / 512 MiB "
                                "on each\n", "")
    assert cloud(lab, "pod", "rm", "batch") == (0, "pod 'batch' removed\n", "")
    code, _, err = cloud(lab, "pod", "rm", "batch")
    assert code == 1 and err.startswith("cloud: pod 'batch' does not exist")


def test_app_deploy_scale_stop(manager, worker_images):
    _, _, lab = manager
    cloud(lab, "init")
    app = ok_json(lab, "app", "deploy", "web", "--image", worker_images["light"], "--pod", "medium",
                  "--replicas", "2", "--port", "8000", "--path", "/web", "--balance", "leastconn",
                  "--health-path", "/health")
    assert (app["replicas"], app["balance"], app["path"]) == (2, "leastconn", "/web")
    echo = ok_json(lab, "app", "deploy", "echo", "--command", "nc -lk -p 9000", "--pod", "light",
                   "--replicas", "1", "--port", "9000")
    assert echo["command"] == ["nc", "-lk", "-p", "9000"] and echo["path"] == "/echo"
    assert ok_json(lab, "app", "scale", "web", "5")["replicas"] == 5
    code, out, _ = cloud(lab, "app", "scale", "web", "3")
    assert out == "app 'web' scaled to 3 replicas\n"
    apps = {a["name"]: a["replicas"] for a in ok_json(lab, "app", "ls")}
    assert apps == {"echo": 1, "heavy": 0, "light": 0, "medium": 0, "web": 3}
    code, out, _ = cloud(lab, "app", "ls")
    web = next(line for line in out.splitlines() if line.startswith("web "))
    # 0 serving (no controller), no warm pool
    assert web.split()[:8] == ["web", "medium", "3", "0", "-", "8000", "/web", "leastconn"]
    assert cloud(lab, "app", "stop", "web") == (0, "app 'web' stopped\n", "")
    assert "web" not in {a["name"] for a in ok_json(lab, "app", "ls")}


def test_exit_codes_and_one_line_errors(manager, tmp_path):
    api, token, lab = manager
    cloud(lab, "init")
    for i in range(20):
        assert cloud(lab, "register", f"n{i}", "light")[0] == 0
    code, out, err = cloud(lab, "register", "n20", "light")
    assert (code, out) == (1, "")
    assert err.startswith("cloud: pod 'light' is full: 20 nodes on pod-light (20/20 of this pod") \
        and err.count("\n") == 1

    code, _, err = cloud(lab, "launch", "nope")
    assert code == 1 and err.startswith("cloud: pod 'nope' does not exist")
    code, _, err = cloud(lab, "app", "deploy", "w", "--image", "simplecloud/nothing-here", "--pod", "heavy",
                         "--replicas", "1", "--port", "80")
    assert code == 1 and "does not exist on host pod-heavy" in err
    code, _, err = cloud(lab, "app", "scale", "heavy", "11")
    assert code == 1 and "cannot add" in err

    code, _, err = cloud(lab, "app", "deploy", "w", "--image", "x", "--pod", "light", "--replicas", "1",
                         "--port", "80", "--balance", "fastest")
    assert code == 2 and err.count("\n") == 1 and "invalid choice: 'fastest'" in err

    elsewhere = tmp_path / "elsewhere"        # no .simplecloud here or above it
    elsewhere.mkdir()
    code, _, err = cloud(lab, "launch", "light", cwd=elsewhere, env={"SIMPLECLOUD_API": api})
    assert code == 1 and err.startswith("cloud: authentication required: no bearer token was sent")
    code, _, err = cloud(lab, "launch", "light", "--token", "wrong")
    assert code == 1 and "a wrong token was sent" in err
    code, _, err = cloud(lab, "pod", "ls", cwd=elsewhere, env={"SIMPLECLOUD_API": api})  # reads need it too
    assert code == 1 and "no bearer token was sent" in err
    assert cloud(lab, "pod", "ls")[0] == 0

    dead = f"http://127.0.0.1:{free_port()}"
    code, _, err = cloud(lab, "status", "--api", dead)
    assert (code, err) == (3, f"cloud: cannot reach the simplecloud API at {dead} (is the lab up? try: make up)\n")


def test_full_manager_runs_workers_behind_haproxy(etcd_endpoint, haproxy_proc, test_labels, worker_images,
                                                  docker_client, tmp_path):
    """cloud init/register/launch/pause/rm with the controller on: real containers, real HAProxy."""
    hs = haproxy_proc.settings.flat()
    env = {"SIMPLECLOUD_" + name.upper(): str(hs[name]) for name in (
        "pod_network", "haproxy_config", "haproxy_admin_socket", "haproxy_master_socket", "haproxy_bin",
        "haproxy_state_file", "frontend_bind", "stats_bind")}
    env["SIMPLECLOUD_RECONCILE_INTERVAL"] = "1"
    labels = [arg for key, value in test_labels.items() for arg in ("--label", f"{key}={value}")]
    label_filter = {"label": [f"{k}={v}" for k, v in test_labels.items()] + ["simplecloud.pod=light"]}
    try:
        with running_manager(etcd_endpoint, tmp_path, labels, env) as (api, token, lab):
            assert cloud(lab, "init")[0] == 0
            assert cloud(lab, "register", "n1", "light")[0] == 0
            code, out, err = cloud(lab, "launch", "light", "--wait", "--timeout", "45")
            assert code == 0, err
            assert out == "node 'n1' of pod 'light' serves\n" and "waiting for node n1 of pod light" in err
            r = requests.get(haproxy_proc.url + "/light", timeout=5)       # --wait means: it serves now
            assert r.status_code == 200 and r.json()["node"] == "n1"
            (container,) = docker_client.containers.list(filters=label_filter)
            assert container.labels["simplecloud.test"] == "1" and container.labels["simplecloud.node"] == "n1"
            (node,) = ok_json(lab, "node", "ls", "light")
            assert node["observed"]["phase"] == "serving" and node["observed"]["healthy"] is True

            # a crash on purpose: replaced, serving again, counted
            code, out, err = cloud(lab, "node", "crash", "n1")
            assert code == 0 and container.name in out, err

            def replaced():
                (n,) = ok_json(lab, "node", "ls", "light")
                return n["observed"]["restarts"] == 1 and n["observed"]["phase"] == "serving" and n
            n = wait_until(replaced, timeout=60, what="n1 to be replaced and serve again")
            assert "exited with code 137" in n["observed"]["last_error"], ok_json(lab, "events", "--limit", "40")
            (again,) = docker_client.containers.list(filters=label_filter)
            assert again.id != container.id and requests.get(haproxy_proc.url + "/light", timeout=5).ok

            assert cloud(lab, "pause", "light")[0] == 0
            wait_until(lambda: requests.get(haproxy_proc.url + "/light", timeout=5).status_code == 503,
                       timeout=30, what="the paused node to leave HAProxy's rotation")
            assert cloud(lab, "rm", "n1", "light")[0] == 0
            wait_until(lambda: not docker_client.containers.list(all=True, filters=label_filter),
                       timeout=30, what="the removed node's container to go")
    finally:
        for c in docker_client.containers.list(all=True, filters=label_filter):
            c.remove(force=True)
