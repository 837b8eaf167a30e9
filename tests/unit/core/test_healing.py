"""Healing rules and observed views, on recorded traces (pure)."""
from __future__ import annotations

import dataclasses

from orchestrator.core import healing, observed
from orchestrator.core.healing import HealingPolicy, NodeHealth
from orchestrator.core.model import App, Container, Node, NodeStatus, Pod, Server, spec_generation
from orchestrator.core.naming import server_name

POLICY = HealingPolicy(start_timeout=30, backoff_max=60, backoff_reset=60)
POD = Pod("light", ("pod-light",), 20, 0.25, 128)
APP = App(name="web", pod="light", port=8000, image="img", path="/web", health_path="/health")
GEN = spec_generation(APP, POD)


def box(state="running", cid="c1", created=0.0, exit_code=None):
    return Container(name="sc", pod="light", node="n1", app="web", state=state, ip="10.0.0.2",
                     image="img", gen=GEN, id=cid, created=created, exit_code=exit_code)


def srv(healthy=True, admin="ready"):
    return Server("app_web", server_name("n1", "c1"), "10.0.0.2", 8000, admin, healthy)


def test_backoff_doubles_from_one_second_to_the_cap():
    assert [healing.backoff(n, POLICY) for n in range(9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_a_crash_loop_trace():
    """A worker that exits right after each start: replaced at once, then after 1, 2, 4 s."""
    health, t, waits = NodeHealth(), 100.0, []
    for attempt in range(4):
        cid = f"c{attempt}"
        seen = t
        verdict = healing.judge(box("exited", cid, created=t - 0.5, exit_code=1), None, health, t, POLICY)
        while not verdict.replace:                     # the controller looks again at wait_until
            t = verdict.wait_until
            verdict = healing.judge(box("exited", cid, exit_code=1), None, verdict.health, t, POLICY)
        waits.append(t - seen)
        health = verdict.health
        t += 0.5                                        # the replacement starts and exits again
    assert waits == [0, 1, 2, 4]
    assert health.restarts == 4 and health.streak == 4
    assert health.last_error == "its container exited with code 1"


def test_streak_is_forgotten_after_serving_long_enough():
    health = NodeHealth(restarts=5, streak=5, last_failure=100.0)
    short = healing.judge(box(), srv(), health, 130.0, POLICY)
    assert short.health.streak == 5
    long = healing.judge(box(), srv(), health, 161.0, POLICY)
    assert long.health.streak == 0 and long.health.restarts == 5


def test_paused_and_unchecked_servers_are_not_failures():
    assert healing.failure(box(), srv(False, "maint"), NodeHealth(healthy_id="c1"), 0, POLICY) == ""
    assert healing.failure(box(), srv(None), NodeHealth(), 1000, POLICY) == ""
    assert healing.failure(box(), None, NodeHealth(), 1000, POLICY) == ""


def test_views_say_what_is_real():
    node = Node("n1", "light", "web", NodeStatus.ONLINE, host="pod-light")
    servers = {("app_web", server_name("n1", "c1")): srv()}
    view = observed.node_view(node, APP, POD, [box()], servers, NodeHealth(restarts=2), 10.0)
    assert (view["phase"], view["healthy"], view["restarts"], view["host"]) == ("serving", True, 2, "pod-light")
    starting = observed.node_view(node, APP, POD, [box(created=5)], {("app_web", server_name("n1", "c1")):
                                                                     srv(False)}, NodeHealth(), 10.0)
    assert starting["phase"] == "starting"
    unhealthy = observed.node_view(node, APP, POD, [box()], {("app_web", server_name("n1", "c1")): srv(False)},
                                   NodeHealth(healthy_id="c1"), 10.0)
    assert unhealthy["phase"] == "unhealthy"
    backing = observed.node_view(node, APP, POD, [box("exited")], {},
                                 NodeHealth(streak=2, failed_id="c1", last_failure=50.0), 51.0)
    assert backing["phase"] == "backoff" and backing["retry_at"] == 52.0
    gone = observed.unreachable(view, "pod-light", "timed out")
    assert gone["phase"] == "unreachable" and gone["restarts"] == 2 and gone["host_error"] == "timed out"
    assert observed.same({**view, "time": 1, "since": 1}, {**view, "time": 2})


def test_a_warm_node_is_warm_once_its_drained_server_passes_its_check():
    node = Node("n1", "light", "web", NodeStatus.ONLINE, host="pod-light", warm=True)
    key = ("app_web", server_name("n1", "c1"))
    view = observed.node_view(node, APP, POD, [box()], {key: srv(True, "drain")}, NodeHealth(), 10.0)
    assert (view["phase"], view["server"]) == ("warm", "drain")
    assert observed.node_view(node, APP, POD, [box(created=5)], {key: srv(False, "drain")},
                              NodeHealth(), 10.0)["phase"] == "starting"
    frozen = observed.node_view(node, APP, POD, [box("paused")], {key: srv(None, "maint")}, NodeHealth(), 10.0)
    assert (frozen["phase"], frozen["container"]) == ("warm", "paused")       # paused while its app is at zero
    # promoted (the flag cleared) but HAProxy not told yet: not serving until its server is ready
    promoted = dataclasses.replace(node, warm=False)
    assert observed.node_view(promoted, APP, POD, [box()], {key: srv(True, "drain")},
                              NodeHealth(), 10.0)["phase"] == "starting"
