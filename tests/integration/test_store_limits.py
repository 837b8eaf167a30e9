"""The store against a real etcd at its limits: changes bigger than one
transaction, damaged records, and races between use cases that must not
leave a node without its app or an app without its pod."""
from __future__ import annotations

import functools
import json
import threading

import etcd3
import pytest

from orchestrator.api import create_app
from orchestrator.core.errors import CapacityError, Conflict, NotFound, SimpleCloudError
from orchestrator.core.model import Host, Node, NodeStatus, Pod
from orchestrator.edges.store import MAX_TXN_OPS, Store, TooLarge, desired
from orchestrator.edges.store import nodes as node_records
from orchestrator.usecases import UseCases
from tests.bodies import app_spec, node_spec, pod_spec

pytestmark = pytest.mark.integration

TOKEN = "limits-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RACE_ROUNDS = 25


BIG_HOST = Host("pod-host", 2000, 200.0, 2000 * 64)


def cases(store) -> UseCases:
    """The use cases over ``store``, with host pod-host registered (big enough for every pod here)."""
    store.register_hosts([BIG_HOST])
    return UseCases.over(store)


@pytest.fixture
def big(store):
    """A pod of 1000 nodes with an app of 0 replicas (command apps need no image check)."""
    svc = cases(store)
    svc.pods.register(pod_spec(name="big", host="pod-host", max_nodes=1000, cpus=0.1, memory_mb=64))
    svc.apps.deploy(app_spec(**{"name": "web", "command": ["nc", "-lk", "-p", "9000"], "port": 9000,
                    "pod": "big", "replicas": 0}))
    return svc


@pytest.fixture
def raw(etcd_endpoint):
    """A plain etcd client, to write what the orchestrator never would."""
    client = etcd3.client(*etcd_endpoint, timeout=5)
    yield client
    client.close()


def apps_of(store, pod="big"):
    return sorted({n.app for n in store.list_nodes(pod)})


def together(*calls, timeout: float = 60) -> None:
    """Run the calls in threads at the same time; wait for every one."""
    threads = [threading.Thread(target=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)


def mine(store, app="web", pod="big"):
    return [n for n in store.list_nodes(pod) if n.app == app]


# ---------------------------------------------------------------- batches

def test_scale_0_to_300_and_back_in_batches(big, store):
    assert len(big.apps.scale("web", 300)["nodes"]) == 300
    assert len(mine(store)) == 300 == store.pod_node_count("big")
    assert len(big.pods.pause("big")) == 300                      # 300 status changes: batched too
    assert {n.status for n in mine(store)} == {NodeStatus.PAUSED}
    assert len(big.pods.resume("big")) == 300
    assert big.apps.scale("web", 0)["replicas"] == 0
    assert mine(store) == [] and store.pod_node_count("big") == 0


def test_deploy_and_stop_an_app_of_300_replicas(big, store):
    result = big.apps.deploy(app_spec(**{"name": "api", "command": ["nc", "-lk", "-p", "9001"], "port": 9001,
                             "pod": "big", "replicas": 300}))
    assert result["replicas"] == 300 and len(result["nodes"]) == 300
    assert store.pod_node_count("big") == 300
    assert len(big.apps.stop("api")["removed"]) == 300
    assert store.get_app("api") is None and store.pod_node_count("big") == 0


def test_a_change_beyond_the_free_slots_writes_nothing(big, store):
    big.apps.scale("web", 900)
    with pytest.raises(CapacityError):
        big.apps.deploy(app_spec(name="api", command=["true"], port=1, pod="big", replicas=200))
    with pytest.raises(CapacityError):
        store.add_nodes("big", [Node(f"x{i}", "big", "web", host="pod-host") for i in range(200)])
    assert store.get_app("api") is None
    assert store.pod_node_count("big") == 900 == len(store.list_nodes("big"))


def test_concurrent_big_scales_never_exceed_max_nodes(etcd_endpoint, store):
    """Two managers scale two apps of one pod to 200 each; the pod holds 300."""
    svc = cases(store)
    svc.pods.register(pod_spec(name="big", host="pod-host", max_nodes=300, cpus=0.1, memory_mb=64))
    for name in ("a", "b"):
        svc.apps.deploy(app_spec(**{"name": name, "command": ["true"], "port": 1, "pod": "big", "replicas": 0}))
    stores = [Store(*etcd_endpoint, prefix=store.prefix) for _ in range(2)]
    start, outcome = threading.Barrier(2), {}

    def scale(s, name):
        start.wait()
        try:
            cases(s).apps.scale(name, 200)
            outcome[name] = "ok"
        except CapacityError:
            outcome[name] = "full"

    together(*(functools.partial(scale, s, n) for s, n in zip(stores, ("a", "b"))))
    for s in stores:
        s.close()
    nodes = store.list_nodes("big")
    assert len(nodes) <= 300 and store.pod_node_count("big") == len(nodes)
    assert sorted(outcome.values()) == ["full", "ok"]       # one got 200, the other no more than 100
    assert max(len(mine(store, n)) for n in "ab") == 200


def test_capacity_race_across_batches_exactly_fills_the_pod(etcd_endpoint, store):
    """Eight threads each add 130 nodes (two batches each) to a pod of 300."""
    store.put_pod(Pod("big", ("pod-host",), 300, 0.1, 64), create=True)
    cases(store).apps.deploy(app_spec(name="web", command=["true"], port=1, pod="big", replicas=0))
    stores = [Store(*etcd_endpoint, prefix=store.prefix) for _ in range(8)]
    start, errors = threading.Barrier(8), []

    def add(i):
        start.wait()
        try:
            stores[i].add_nodes("big", [Node(f"t{i}-{j}", "big", "web", host="pod-host") for j in range(130)])
        except CapacityError as exc:
            errors.append(exc)

    together(*(functools.partial(add, i) for i in range(8)))
    for s in stores:
        s.close()
    count = store.pod_node_count("big")
    assert count == len(store.list_nodes("big")) <= 300
    assert len(errors) >= 6


def test_etcds_own_refusal_is_a_clear_4xx_not_unreachable(store):
    store.put_pod(Pod("big", ("pod-host",), 1000, 0.1, 64), create=True)
    cases(store).apps.deploy(app_spec(name="web", command=["true"], port=1, pod="big", replicas=0))
    store.max_txn_ops = 4 * MAX_TXN_OPS        # more than etcd takes (--max-txn-ops 128)
    with pytest.raises(TooLarge, match="too many operations") as refused:
        store.add_nodes("big", [Node(f"n{i}", "big", "web", host="pod-host") for i in range(300)])
    assert refused.value.status == 400
    assert store.pod_node_count("big") == 0 and store.list_nodes("big") == []


# ---------------------------------------------------------------- damaged records

def test_damaged_records_are_skipped_and_reported_once(store, raw):
    svc = cases(store)
    svc.cluster.init()
    svc.nodes.register(node_spec("n1", "light"))
    garbage = {
        "pods/broken": "{not json",
        "apps/broken": json.dumps({"name": "broken", "pod": "light"}),              # no port
        "nodes/light/broken": json.dumps({"name": "broken", "pod": "light", "app": "light",
                                          "status": "ONLINE", "created": "yesterday"}),
        "nodes/light/elsewhere": json.dumps({"name": "other", "pod": "light", "app": "light"}),
        "observed/light/n1": json.dumps({"phase": ["serving"]}),
        "hosts/pod-light": "[]",
        "links/pod-light": "[]",
        "events/00000000000000000000-000000zzzz": "{}",
    }
    for key, value in garbage.items():
        raw.put(store.prefix + key, value)
    client = create_app(svc, token=TOKEN).test_client()
    for _ in range(2):
        pods, apps, nodes = (client.get(f"/api/{what}", headers=AUTH) for what in ("pods", "apps", "nodes"))
        assert (pods.status_code, apps.status_code, nodes.status_code) == (200, 200, 200)
        assert sorted(p["name"] for p in pods.get_json()) == ["heavy", "light", "medium"]
        assert "broken" not in {a["name"] for a in apps.get_json()}
        assert [n["name"] for n in nodes.get_json()] == ["n1"]
        assert client.get("/api/status", headers=AUTH).status_code == 200
    store.events(500)                                     # reads the damaged event too
    reported = [e for e in store.events(500) if e.kind == "store.corrupt"]
    assert sorted(e.subject for e in reported) == sorted(garbage)       # each once, by its key
    node_event = next(e for e in reported if e.subject == "nodes/light/broken")
    assert "'created'" in node_event.message and "etcdctl del" in node_event.message
    with pytest.raises(Conflict, match="damaged"):
        svc.nodes.register(node_spec("x", "broken"))                  # that one record cannot be used
    assert store.get_observed("light", "n1") is None      # observed: only a last look


def test_a_damaged_count_is_refused_clearly(store, raw):
    cases(store).cluster.init()
    raw.put(store.prefix + "podcount/light", "lots")
    with pytest.raises(Conflict, match="podcount/light"):
        cases(store).nodes.register(node_spec("n1", "light"))


# ---------------------------------------------------------------- races

def race(first, second) -> list[BaseException]:
    """Run two calls at once (as two managers would); returns what they raised."""
    start, raised = threading.Barrier(2), []

    def run(call):
        start.wait()
        try:
            call()
        except SimpleCloudError as exc:
            raised.append(exc)

    together(functools.partial(run, first), functools.partial(run, second), timeout=30)
    return raised


def test_stopping_an_empty_app_races_registering_a_node_for_it(etcd_endpoint, store):
    cases(store).pods.register(pod_spec(name="race", host="pod-host", max_nodes=100))
    other = Store(*etcd_endpoint, prefix=store.prefix)
    try:
        for i in range(RACE_ROUNDS):
            cases(store).apps.deploy(app_spec(**{"name": "web", "command": ["true"], "port": 1, "pod": "race",
                                       "replicas": 0}))
            raised = race(lambda: cases(store).apps.stop("web"),
                          lambda: cases(other).nodes.register(node_spec(f"n{i}", "race", "web")))
            assert all(isinstance(e, (NotFound, Conflict)) for e in raised), raised
            orphans = [n.name for n in store.list_nodes("race") if store.get_app(n.app) is None]
            assert orphans == [], f"round {i}: node(s) {orphans} without their app"
            if store.get_app("web") is not None:
                cases(store).apps.stop("web")
            assert store.pod_node_count("race") == 0 == len(store.list_nodes("race"))
    finally:
        other.close()


def test_removing_a_pod_races_a_zero_replica_deploy_into_it(etcd_endpoint, store):
    other = Store(*etcd_endpoint, prefix=store.prefix)
    try:
        for i in range(RACE_ROUNDS):
            cases(store).pods.register(pod_spec(name="race", host="pod-host", max_nodes=10))
            raised = race(lambda: cases(store).pods.remove("race"),
                          lambda: cases(other).apps.deploy(app_spec(**{"name": "web", "command": ["true"],
                                                             "port": 1, "pod": "race", "replicas": 0})))
            assert all(isinstance(e, (NotFound, Conflict)) for e in raised), raised
            homeless = [a.name for a in store.list_apps() if store.get_pod(a.pod) is None]
            assert homeless == [], f"round {i}: app(s) {homeless} in a deleted pod"
            if store.get_app("web") is not None:
                cases(store).apps.stop("web")
            if store.get_pod("race") is not None:
                cases(store).pods.remove("race")
    finally:
        other.close()


def interleave(monkeypatch, store: Store, module, function: str, competitor, after: int = 1) -> None:
    """Run ``competitor()`` once, right after ``store``'s ``after``-th read by
    ``module.function`` (edges/store/: the facade's reads and the store's own
    go through it): the moment another manager's request is most harmful (a
    deterministic version of the races above; etcd itself is real)."""
    read = getattr(module, function)
    calls = iter(range(1, after + 1))

    def read_then_compete(etcd, *args, **kwargs):
        result = read(etcd, *args, **kwargs)
        if etcd is store.etcd and next(calls, None) == after:
            competitor()
        return result

    monkeypatch.setattr(module, function, read_then_compete)


def test_a_node_registered_just_after_stop_read_the_nodes_goes_with_the_app(etcd_endpoint, store, monkeypatch):
    cases(store).pods.register(pod_spec(name="race", host="pod-host", max_nodes=10))
    cases(store).apps.deploy(app_spec(name="web", command=["true"], port=1, pod="race", replicas=0))
    stopper, other = (Store(*etcd_endpoint, prefix=store.prefix) for _ in range(2))
    try:
        # the 2nd read is the store's own, just before its transaction (the 1st is the service's)
        interleave(monkeypatch, stopper, node_records, "list_nodes",
                   lambda: cases(other).nodes.register(node_spec("late", "race", "web")), after=2)
        result = cases(stopper).apps.stop("web")
    finally:
        stopper.close()
        other.close()
    assert [n["name"] for n in result["removed"]] == ["late"]
    assert store.get_app("web") is None and store.list_nodes("race") == []


def test_an_app_deployed_just_after_remove_pod_read_the_apps_keeps_its_pod(etcd_endpoint, store, monkeypatch):
    cases(store).pods.register(pod_spec(name="race", host="pod-host", max_nodes=10))
    remover, other = (Store(*etcd_endpoint, prefix=store.prefix) for _ in range(2))
    try:
        interleave(monkeypatch, remover, desired, "list_apps", lambda: cases(other).apps.deploy(app_spec(
            name="web", command=["true"], port=1, pod="race", replicas=0)))
        with pytest.raises(Conflict, match="used by app"):
            cases(remover).pods.remove("race")
    finally:
        remover.close()
        other.close()
    assert store.get_app("web").pod == "race" and store.get_pod("race") is not None
