"""Pods as pools of hosts, in the lab of design.md: pod light over pod-light-1
and pod-light-2, spare-1 in no pod. Driven from outside, through the CLI and
HAProxy:

* one of light's hosts killed with 6 light nodes under load: after the grace
  all 6 serve on the survivor; started again, its stale containers go and no
  node is served twice;
* a spare into the pod, a host drained under load (no failed request), the
  spare taken out again (drained first);
* an autoscaled app in a pod too small for its load: the spare joins, the app
  reaches its replicas, and the spare is given back once the load is gone.

The numbers to beat (how long, how many requests) are bench/pool_bench.py's;
these check the behaviour."""
from __future__ import annotations

import subprocess
import time

import pytest

from bench.labkit import OpenLoop
from tests.lab.conftest import (
    CONVERGE,
    PROVIDER,
    answer_slowdown,
    budget,
    cloud,
    cloud_json,
    cloud_ok,
    containers_of,
    nodes_seen,
    wait_until,
)

pytestmark = pytest.mark.lab

LIGHT_HOSTS = ("pod-light-1", "pod-light-2")
SPARE = "spare-1"
GRACE = 10                 # host_grace, the lab's setting (seconds)
RETURN_WINDOW = 60         # spare_return_window, the lab's setting (inventory/group_vars/all.yml)


def machine(name: str, action: str) -> None:
    """Kill or start a whole lab machine: its container (`docker kill|start`)
    or its VM (`virsh destroy|start`, a libvirt lab)."""
    if PROVIDER == "libvirt":
        verb = {"kill": "destroy", "start": "start"}[action]
        argv = ["virsh", "-c", "qemu:///system", verb, f"simplecloud-{name}"]
    else:
        argv = ["docker", action, f"simplecloud-{name}"]
    subprocess.run(argv, check=True, capture_output=True, timeout=budget(60))


def hosts() -> dict[str, dict]:
    return {h["name"]: h for h in cloud_json("host", "ls")}


def placed(app: str) -> dict[str, str]:
    """node → its host."""
    return {n["name"]: n.get("host") for n in cloud_json("node", "ls") if n["app"] == app}


def serving_on(app: str, host_names: set[str]) -> int:
    """How many nodes of ``app`` serve, each from its own host, all on ``host_names``."""
    nodes = [n for n in cloud_json("node", "ls") if n["app"] == app]
    good = [n for n in nodes if (n.get("observed") or {}).get("phase") == "serving"
            and (n.get("observed") or {}).get("host") == n.get("host") and n.get("host") in host_names]
    return len(good) if len(good) == len(nodes) else -1


@pytest.fixture
def light_pool(light_empty):
    """Pod light over its two hosts, the spare in no pod; put back so afterwards."""
    pod = next(p for p in cloud_json("pod", "ls") if p["name"] == "light")
    assert tuple(pod["hosts"]) == LIGHT_HOSTS, pod
    assert hosts()[SPARE]["spare"], hosts()[SPARE]
    yield
    cloud("app", "scale", "light", "0")
    for host in LIGHT_HOSTS:
        cloud("host", "add", host, "light")          # a drained host takes nodes again
    if "light" in hosts()[SPARE]["pods"]:
        cloud("host", "rm", SPARE, "--timeout", str(CONVERGE))


def test_a_killed_host_of_light_its_nodes_serve_on_the_survivor(light_pool):
    cloud_ok("app", "scale", "light", "6", "--wait", "--timeout", str(CONVERGE))
    spread = placed("light")
    assert sorted(spread.values()) == sorted(LIGHT_HOSTS * 3), spread
    slower = answer_slowdown()
    victim, survivor = LIGHT_HOSTS
    with OpenLoop("/light", rate=50 / slower, limit_s=budget(180), seed=22) as load:
        time.sleep(2)
        killed = time.time()
        machine(victim, "kill")
        try:
            assert wait_until(lambda: serving_on("light", {survivor}) == 6, budget(GRACE) + CONVERGE), \
                cloud_json("node", "ls")
            moved = [e["message"] for e in cloud_json("events", "--limit", "200")
                     if e["kind"] == "node.moved" and e["time"] >= killed]
            assert len(moved) == 3 and all(f"from {victim} to {survivor}" in m and
                                           f"unreachable for longer than {GRACE}" in m for m in moved), moved
            after_move = time.time()
        finally:
            machine(victim, "start")
        assert wait_until(lambda: hosts()[victim]["link"] and hosts()[victim]["link"]["reachable"], CONVERGE)
        assert wait_until(lambda: containers_of(victim, "light") == [], CONVERGE), containers_of(victim, "light")
    late = [f for f in load.failures if f[0] > after_move]
    assert late == [], f"{len(late)} requests failed after the nodes served on {survivor}: {late[:5]}"
    assert serving_on("light", {survivor}) == 6
    assert len(nodes_seen("/light", 24)) == 6                    # six nodes, each served from one place
    assert len(containers_of(survivor, "light")) == 6


def test_a_spare_joins_light_a_host_is_drained_under_load_and_the_spare_leaves(light_pool):
    out = cloud_ok("host", "add", SPARE, "light")
    assert out.startswith(f"host '{SPARE}' is a host of pod 'light'"), out
    cloud_ok("app", "scale", "light", "6", "--wait", "--timeout", str(CONVERGE))
    assert set(placed("light").values()) == {*LIGHT_HOSTS, SPARE}      # spread over all three
    slower = answer_slowdown()
    with OpenLoop("/light", rate=20 / slower, limit_s=budget(240), seed=23) as load:
        out = cloud_ok("host", "drain", LIGHT_HOSTS[1], "--timeout", str(CONVERGE))
        assert out.strip() == f"host '{LIGHT_HOSTS[1]}' is drained: its nodes serve on other hosts"
        assert set(placed("light").values()) == {LIGHT_HOSTS[0], SPARE}
        assert wait_until(lambda: containers_of(LIGHT_HOSTS[1], "light") == [], CONVERGE)
        cloud_ok("host", "add", LIGHT_HOSTS[1], "light")              # it takes nodes again
        out = cloud_ok("host", "rm", SPARE, "--timeout", str(CONVERGE))
        assert out.strip() == f"host '{SPARE}' left pod 'light'; it is a spare again"
        assert wait_until(lambda: containers_of(SPARE, "light") == [], CONVERGE)
    assert load.sent() > 20 and load.failures == [], load.failures[:5]
    assert hosts()[SPARE]["spare"] and serving_on("light", set(LIGHT_HOSTS)) == 6
    kinds = {e["kind"] for e in cloud_json("events", "--limit", "200")}
    assert {"host.added", "host.draining", "host.drained", "host.removed", "node.moved"} <= kinds


@pytest.fixture
def tight(lab):
    """Pod "tight": one node on each of light's hosts, an autoscaled app in it."""
    cloud("app", "stop", "tight")
    cloud("pod", "rm", "tight")
    cloud_ok("pod", "register", "tight", "--host", LIGHT_HOSTS[0], "--host", LIGHT_HOSTS[1], "--max-nodes", "1",
             "--cpus", "0.25", "--memory", "128")
    cloud_ok("app", "deploy", "tight", "--image", "registry:5050/simplecloud/light", "--pod", "tight",
             "--replicas", "1", "--port", "8000", "--path", "/tight", "--strip-path", "--health-path", "/health",
             "--wait", "--timeout", str(CONVERGE))
    yield
    cloud("app", "stop", "tight")
    if "tight" in hosts()[SPARE]["pods"]:
        cloud("host", "rm", SPARE, "--pod", "tight", "--timeout", str(CONVERGE))
    cloud("pod", "rm", "tight")


def test_autoscaling_past_a_full_pod_takes_the_spare_and_gives_it_back(tight):
    # one node per host: two on light's hosts, a third only on the spare
    cloud_ok("app", "autoscale", "tight", "--min", "1", "--max", "3", "--rps", "2", "--window", str(budget(20)))
    started = time.time()
    with OpenLoop("/tight", rate=8, limit_s=budget(180), seed=24) as load:
        assert wait_until(lambda: SPARE in hosts() and "tight" in hosts()[SPARE]["pods"], CONVERGE), hosts()
        app = lambda: next(a for a in cloud_json("app", "ls") if a["name"] == "tight")  # noqa: E731
        assert wait_until(lambda: app()["serving"] == 3, CONVERGE), app()
        print(f"3 replicas of tight serve {time.time() - started:.1f} s after the load step")
    assert load.failures == [], load.failures[:5]
    lent = [e["message"] for e in cloud_json("events", "--limit", "200") if e["kind"] == "host.lent"]
    assert lent and lent[0].startswith("pod tight is full and needs room for"), lent
    # the load is gone: scaled back down, then, after the window, the spare is drained and returned
    assert wait_until(lambda: "tight" not in hosts()[SPARE]["pods"], budget(RETURN_WINDOW) + 2 * CONVERGE), hosts()
    kinds = [e["kind"] for e in cloud_json("events", "--limit", "200") if e["time"] >= started]
    assert "host.returned" in kinds and hosts()[SPARE]["spare"]
