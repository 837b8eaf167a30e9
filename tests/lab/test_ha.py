"""Losing the leading manager's machine (issue 21), in short: under load
through the virtual IP, `docker kill` of the leader's machine; the entry
point answers again, another manager leads, and a scale issued at once
completes with one container per node; the machine started again rejoins as
a follower with a healthy etcd member. Times are bench/ha_bench.py's."""
from __future__ import annotations

import json
import time

import pytest

from tests.lab.conftest import (
    CONVERGE,
    LAB,
    Load,
    budget,
    cloud,
    cloud_json,
    cloud_ok,
    get,
    leader,
    pod_containers,
    power,
    wait_until,
)

pytestmark = pytest.mark.lab


def healthy_without(name: str) -> bool:
    """Every manager answers, ``name`` is not the leader, every etcd member is healthy."""
    rc, out, _ = cloud("manager", "ls", "--json")
    if rc != 0:
        return False
    m = json.loads(out)
    return (all(x["reachable"] for x in m["managers"]) and m["leader"]["name"] not in ("", name, None)
            and sorted(e["name"] for e in m["etcd"]["members"] if e["healthy"]) == sorted(LAB.managers))


def running_light() -> list[dict]:
    return [c for c in pod_containers("light", "light") if c["state"] == "running"]


def test_the_leaders_machine_killed_another_leads_and_it_rejoins_as_a_follower(light_empty):
    cloud_ok("app", "scale", "light", "2", "--wait", "--timeout", str(CONVERGE))
    old = leader()
    with Load("/light", rate=10) as load:
        power(old, False)
        try:
            # a change issued at once is carried out by whoever leads next
            cloud_ok("app", "scale", "light", "+2", "--wait", "--timeout", str(CONVERGE))
            new = leader()
            assert new != old and new in LAB.managers
            assert wait_until(lambda: get("/light")[0] == 200, budget(30))      # the virtual IP answers
            load.more(10)
            nodes = sorted(n["name"] for n in cloud_json("node", "ls") if n["app"] == "light")
            assert len(nodes) == 4
            assert wait_until(lambda: sorted(c["node"] for c in running_light()) == nodes), running_light()
        finally:
            power(old, True)
        started = time.time()
        assert wait_until(lambda: healthy_without(old), budget(180)), cloud("manager", "ls")[1]
        load.more(10)
    assert leader() != old                   # it came back as a follower
    assert [f for f in load.failures if f[0] >= started] == []       # its return costs no request
