"""Healing in the running lab, driven from outside: a killed worker, a hung
worker, a frozen pod host, the leading manager's orchestrator killed with SIGKILL, and a rolling
update, each under a steady stream of requests through HAProxy. Requests
must not fail; what `cloud node ls` / `cloud pod ls` say must be true."""
from __future__ import annotations

import time

import pytest

from bench.labkit import OpenLoop
from tests.lab.conftest import (
    CONVERGE,
    SLOWDOWN,
    Load,
    answer_slowdown,
    app_nodes,
    budget,
    cloud,
    cloud_json,
    cloud_ok,
    freeze,
    leader,
    on_machine,
    pod_containers,
    pod_host,
    wait_until,
)

MEDIUM = pod_host("medium")

pytestmark = pytest.mark.lab


def observed(app: str) -> dict[str, dict]:
    return {n["name"]: n.get("observed") or {} for n in app_nodes(app)}


def serving(app: str, count: int) -> bool:
    seen = observed(app)
    return len(seen) == count and all(o.get("phase") == "serving" and not o.get("updating")
                                      for o in seen.values())


@pytest.fixture
def light3(light_empty):
    cloud_ok("app", "scale", "light", "3", "--wait", "--timeout", str(CONVERGE))
    assert serving("light", 3), observed("light")
    return sorted(observed("light"))


def test_a_killed_worker_is_replaced_without_failed_requests(light3):
    victim = light3[0]
    before = observed("light")[victim]["restarts"]
    with Load("/light", rate=20) as load:
        cloud_ok("node", "crash", victim, "--pod", "light")
        assert wait_until(lambda: observed("light")[victim].get("restarts") == before + 1
                          and serving("light", 3)), observed("light")
        load.more(20)
    assert load.failures == [] and load.sent > 10, load.failures
    o = observed("light")[victim]
    # whichever saw it first: Docker's die event or HAProxy's failed check
    assert o["last_error"] in ("its container exited with code 137",
                               "it stopped passing its health check (hung or broken)"), o
    assert o["healthy"] is True
    assert [c["state"] for c in pod_containers("light", "light")] == ["running"] * 3
    events = cloud_json("events", "--limit", "100")
    assert any(e["kind"] == "node.failed" and victim in e["subject"] for e in events)


def test_a_worker_killed_on_its_host_costs_no_request(light3):
    """One of three workers killed with `docker kill` on its pod host (not
    through the manager: its address simply stops answering) under 30 req/s
    open-loop (a slower lab: divided by how much slower a light node answers
    there): no request fails, failure being no answer within 2 s. 30, not
    50: the two survivors must carry the load until the replacement serves,
    and two light nodes do not carry 50 req/s on the 2-core build machine
    (42 of 499 failed, no kill at all); bench/host_link_bench.py's `dead`
    measures 50."""
    victim = light3[2]
    before = observed("light")[victim]["restarts"]
    (box,) = [c for c in pod_containers("light", "light") if c["node"] == victim]
    rate = 30 if SLOWDOWN == 1 else 30 / answer_slowdown()
    with OpenLoop("/light", rate=rate, limit_s=budget(120), timeout=budget(2), seed=19) as load:
        time.sleep(budget(3))
        on_machine(box["host"], f"docker kill {box['name']}")
        assert wait_until(lambda: observed("light")[victim].get("restarts") == before + 1
                          and serving("light", 3)), observed("light")
        time.sleep(budget(3))
    assert load.sent() > 5 * rate and load.failures == [], load.failures


def test_a_hung_worker_is_replaced(light3):
    victim = light3[1]
    before = observed("light")[victim]["restarts"]
    (box,) = [c for c in pod_containers("light", "light") if c["node"] == victim]
    # SIGSTOP every process of the worker but its init: it still "runs", it no longer answers
    on_machine(box["host"], f"docker exec {box['name']} sh -c 'kill -STOP -1'")
    assert wait_until(lambda: observed("light")[victim].get("restarts") == before + 1
                      and serving("light", 3)), observed("light")
    assert " T " not in on_machine(box["host"], f"docker top {box['name']} -o pid,stat,cmd")   # a new process
    assert "stopped passing its health check" in observed("light")[victim]["last_error"]


def test_a_frozen_pod_host_is_reported_and_the_others_keep_working(light3):
    cloud_ok("app", "scale", "medium", "1", "--wait", "--timeout", str(CONVERGE))
    try:
        freeze(MEDIUM, True)
        try:
            def reported():
                medium = {p["name"]: p for p in cloud_json("pod", "ls")}["medium"]
                state = medium["host_states"][medium["hosts"][0]]
                return state and not state["reachable"]
            assert wait_until(reported, budget(30)), cloud_json("pod", "ls")
            status = cloud_json("status")
            assert any(f"{MEDIUM} is unreachable" in w for w in status["warnings"]), status["warnings"]
            assert f"WARNING: host {MEDIUM} is unreachable" in cloud_ok("status")
            assert [o["phase"] for o in observed("medium").values()] == ["unreachable"]
            # the rest of the cluster goes on
            cloud_ok("app", "scale", "light", "4", "--wait", "--timeout", str(CONVERGE))
            assert serving("light", 4), observed("light")
        finally:
            freeze(MEDIUM, False)
        assert wait_until(lambda: serving("medium", 1)), observed("medium")      # back, nothing lost
        medium = {p["name"]: p for p in cloud_json("pod", "ls")}["medium"]
        assert medium["host_states"][medium["hosts"][0]]["reachable"] is True
    finally:
        cloud("app", "scale", "medium", "0")


def test_manager_killed_under_load_loses_nothing(light3):
    """The leader's orchestrator killed (SIGKILL): another manager leads,
    systemd restarts the killed one as a follower."""
    with Load("/light", rate=20) as load:
        on_machine(leader(), "systemctl kill -s KILL simplecloud-manager")
        # workers and HAProxy keep serving while it is down; systemd restarts it
        assert wait_until(lambda: cloud("status")[0] == 0, budget(60))
        cloud_ok("app", "scale", "light", "5", "--wait", "--timeout", str(CONVERGE))
        load.more(20)
    assert load.failures == [] and load.sent > 10, load.failures
    boxes = pod_containers("light", "light")
    assert sorted(c["node"] for c in boxes) == sorted(observed("light")) and len(boxes) == 5   # no orphan, no twin


def test_rolling_update_under_load(light3):
    gens = {c["gen"] for c in pod_containers("light", "light")}
    with Load("/light", rate=20) as load:
        out = cloud_ok("app", "update", "light", "--cpus", "0.2", "--wait", "--timeout", str(CONVERGE))
        assert out.startswith("app 'light' updated: cpus; 3 of 3 replicas serve"), out
        load.more(20)
    assert load.failures == [] and load.sent > 10, load.failures
    boxes = pod_containers("light", "light")
    assert len(boxes) == 3 and len({c["gen"] for c in boxes}) == 1 and not {c["gen"] for c in boxes} & gens
    assert sorted(c["node"] for c in boxes) == light3                  # same nodes, new containers
    # a routing change reloads HAProxy instead
    with Load("/light", rate=20) as load:
        assert "balance" in cloud_ok("app", "update", "light", "--balance", "leastconn")
        assert wait_until(lambda: any(e["kind"] == "controller.reload_config" and "leastconn" in e["message"]
                                      for e in cloud_json("events", "--limit", "30")), budget(30))
    assert load.failures == []


@pytest.fixture(autouse=True)
def _light_as_deployed():
    """Tests that update the light app put it back as `cloud init` made it."""
    yield
    cloud("app", "update", "light", "--balance", "roundrobin", "--cpus", "0.25")
