"""Warm pools end to end: real etcd, real HAProxy, workers on the local dockerd.

An app deployed with a warm pool has its warm nodes running and health-checked
in HAProxy in state drain, and they take no request; a scale-out promotes the
same containers (one state change each, no container started at all), and
the pool is refilled after, once they serve (control/warm_pools.py); a scale
to zero keeps a warm node, paused (no CPU), which the waker's first request
only unpauses and promotes. The decisions themselves are tested on traces in
tests/unit/core/test_scaling.py and tests/unit/control/test_warm_pools.py."""
from __future__ import annotations

import pytest
import requests

from orchestrator.control.warm_pools import WarmPools
from orchestrator.core.schema import Autoscale
from orchestrator.core.steps import AddServer, CreateContainer, SetServerState, StartContainer
from orchestrator.usecases import UseCases
from tests.bodies import app_spec, app_update

from .fixtures_cluster import Cluster, all_healthy, converge, nodes_through, servers
from .fixtures_edges import wait_until

pytestmark = pytest.mark.integration


def redeploy(c: Cluster, replicas: int, warm: int) -> UseCases:
    """App ctl (the light job at /light) deployed again through the use cases, with a warm pool."""
    cases = UseCases.over(c.store, c.pool)
    cases.apps.stop("ctl")
    cases.apps.deploy(app_spec(name="ctl", pod="ctl", image="simplecloud/light", port=8000, path="/light",
                               health_path="/health", replicas=replicas, warm=warm))
    return cases


def warm_and_checked(c: Cluster, nodes) -> bool:
    """Each node has one server, in drain, UP, and the controller saw it warm."""
    have = servers(c)
    return all(len(have.get(n, [])) == 1 and have[n][0].admin == "drain" and have[n][0].healthy
               and (c.store.get_observed("ctl", n) or {}).get("phase") == "warm" for n in nodes)


def frozen(c: Cluster, docker_client, node: str) -> bool:
    """A warm node of an app at zero: its container paused, its server in maint, seen warm."""
    have = servers(c).get(node, [])
    boxes = c.containers(docker_client, node)
    return (len(have) == 1 and have[0].admin == "maint" and [b.status for b in boxes] == ["paused"]
            and (c.store.get_observed("ctl", node) or {}).get("phase") == "warm")


def container_ids(c: Cluster, docker_client) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for box in c.containers(docker_client):
        if box.status in ("running", "paused"):
            out.setdefault(box.labels["simplecloud.node"], []).append(box.id)
    return out


def test_warm_nodes_run_checked_take_nothing_and_serve_when_scaled_out(cluster, docker_client):
    c = cluster
    cases = redeploy(c, replicas=1, warm=2)
    assert [(n.name, n.warm) for n in c.store.list_nodes("ctl")] == \
        [("ctl-1", False), ("ctl-2", True), ("ctl-3", True)]
    converge(c, lambda: all_healthy(c, ["ctl-1"]) and warm_and_checked(c, ["ctl-2", "ctl-3"]),
             what="one node serving and two warm")
    before = container_ids(c, docker_client)
    assert sorted(before) == ["ctl-1", "ctl-2", "ctl-3"] and all(len(v) == 1 for v in before.values())
    assert nodes_through(c.hap.url, 12) == {"ctl-1": 12}          # the warm ones take no request
    app = cases.apps.get("ctl")
    assert (app["replicas"], app["warm"], app["warm_nodes"], app["warm_ready"]) == (1, 2, 2, 2)

    cases.apps.scale("ctl", 3)
    taken = converge(c, lambda: all_healthy(c, ["ctl-1", "ctl-2", "ctl-3"]), what="three serving")
    assert container_ids(c, docker_client) == before                  # the same containers, none started
    assert taken and all(isinstance(a, SetServerState) and a.admin == "ready"
                         and a.server.split(".")[0] in ("ctl-2", "ctl-3") for a in taken), taken
    assert set(nodes_through(c.hap.url, 12)) == {"ctl-1", "ctl-2", "ctl-3"}

    assert WarmPools(c.store, cases.apps, 1.0).refill_once() == ["ctl"]     # they serve: the refill is due
    taken = converge(c, lambda: warm_and_checked(c, ["ctl-4", "ctl-5"]), what="a refilled pool")
    after = container_ids(c, docker_client)
    assert {n: after[n] for n in ("ctl-1", "ctl-2", "ctl-3")} == before
    assert {a.node for a in taken if isinstance(a, (CreateContainer, AddServer))} == {"ctl-4", "ctl-5"}
    assert not any(isinstance(a, StartContainer) and a.name.split(".")[1] in ("ctl-2", "ctl-3") for a in taken)

    cases.apps.update("ctl", app_update(warm=1))
    cases.apps.scale("ctl", 0)
    converge(c, lambda: len(container_ids(c, docker_client)) == 1 and len(servers(c)) == 1
             and frozen(c, docker_client, c.store.list_nodes("ctl")[0].name),
             what="the app at zero with one warm node, paused")
    (kept,) = [n for n in c.store.list_nodes("ctl")]
    assert kept.warm and kept.name in ("ctl-4", "ctl-5")
    assert container_ids(c, docker_client)[kept.name] == after[kept.name]    # the same container, frozen


def test_an_app_at_zero_keeps_a_warm_node_that_the_first_request_promotes(running, docker_client):
    c, store = running, running.store
    cases = redeploy(c, replicas=1, warm=1)
    store.put_autoscale("ctl", Autoscale.model_validate({"min": 0, "max": 2, "rps": 50.0,
                                                         "idle_to_zero_s": 600.0}))
    cases.apps.scale("ctl", 0)
    wait_until(lambda: c.hap.driver.configured_apps().get("ctl", {}).get("wake") == "1", 20,
               what="the HAProxy sync to give app ctl its waker")
    (warm,) = store.list_nodes("ctl")
    assert warm.warm
    wait_until(lambda: frozen(c, docker_client, warm.name), 30,
               what="the warm node to pass its check and be paused")
    box = container_ids(c, docker_client)[warm.name]

    answer = requests.get(c.hap.url + "/light", timeout=30)
    assert answer.status_code == 200 and answer.json()["node"] == warm.name
    assert container_ids(c, docker_client)[warm.name] == box          # promoted: unpaused, not started again
    assert [b.status for b in c.containers(docker_client, warm.name)] == ["running"]
    assert not store.get_node("ctl", warm.name).warm
    assert any("a request arrived while it was at zero" in e.message for e in store.events(50))
    wait_until(lambda: [n.warm for n in store.list_nodes("ctl")] == [False, True], 20,
               what="the pool refilled once the promoted node serves (control/warm_pools.py)")
