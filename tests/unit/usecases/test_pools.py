"""Hosts and the pods' pools of them (usecases/pools.py) on the FakeStore: the
settings' hosts, placement on every add, a host into a pod, drained, out again."""
import pytest

from orchestrator.core.errors import CapacityError, Conflict, NotFound, ValidationError
from orchestrator.core.model import Host
from orchestrator.usecases.pools import hosts_of
from tests.bodies import app_spec, pod_spec

SETTINGS = {"pod-light-1": {"address": "192.168.56.11", "subnet": "10.42.1.0/24", "nodes": 4, "cpus": 1,
                            "memory_mb": 512},
            "pod-light-2": {"address": "192.168.56.14", "subnet": "10.42.4.0/24", "nodes": 4, "cpus": 1.0,
                            "memory_mb": 512},
            "spare-1": {"address": "192.168.56.15", "subnet": "10.42.5.0/24", "nodes": 4, "cpus": 1.0,
                        "memory_mb": 512}}


@pytest.fixture
def pool(cases, store):
    """Pod "two" over pod-light-1 and pod-light-2 (4 nodes of 0.25 CPU each), app web, spare-1 in no pod."""
    cases.pools.register(hosts_of(SETTINGS))
    cases.pods.register(pod_spec(name="two", hosts=["pod-light-1", "pod-light-2"], max_nodes=4, cpus=0.25,
                                 memory_mb=128))
    cases.apps.deploy(app_spec(name="web", pod="two", port=8000, image="img", replicas=0))
    return cases


def by_host(store, pod="two"):
    out: dict[str, int] = {}
    for n in store.list_nodes(pod):
        out[n.host] = out.get(n.host, 0) + 1
    return out


def test_the_settings_hosts_are_registered_once():
    hosts = hosts_of(SETTINGS)
    assert hosts[0] == Host("pod-light-1", 4, 1.0, 512, "192.168.56.11", "10.42.1.0/24")
    with pytest.raises(ValidationError, match="host h needs whole numbers"):
        hosts_of({"h": {"nodes": "many", "cpus": 1, "memory_mb": 1}})
    with pytest.raises(ValidationError, match="unknown field"):
        hosts_of({"h": {"nodes": 1, "cpus": 1, "memory_mb": 1, "gpus": 2}})
    with pytest.raises(ValidationError, match="capacity above 0"):
        hosts_of({"h": {"nodes": 0, "cpus": 1, "memory_mb": 1}})


def test_nodes_spread_by_free_capacity_and_scale_in_takes_the_fullest_first(pool, store):
    pool.apps.scale("web", 6)
    assert by_host(store) == {"pod-light-1": 3, "pod-light-2": 3}
    pool.apps.scale("web", 8)
    with pytest.raises(CapacityError) as full:
        pool.apps.scale("web", 9)
    assert "pod-light-1 (4/4 of this pod" in full.value.message and "cloud host add HOST two" in full.value.message
    store.put_link_state("pod-light-2", {"reachable": False, "since": 1.0})
    pool.apps.scale("web", 5)                               # the unreachable host's nodes go first
    assert by_host(store) == {"pod-light-1": 4, "pod-light-2": 1}
    with pytest.raises(CapacityError, match="pod-light-2 .*not usable now"):
        pool.apps.scale("web", 6)                           # new nodes only where they can run now
    pod = next(p for p in pool.pods.list() if p["name"] == "two")
    assert (pod["used"], pod["capacity"], pod["free"]) == (5, 8, 0)


def test_a_spare_joins_a_pod_is_drained_and_leaves_it(pool, store):
    hosts = {h["name"]: h for h in pool.pools.list()}
    assert hosts["spare-1"]["spare"] and hosts["pod-light-1"]["pods"] == ["two"]
    view = pool.pools.add("spare-1", "two")
    assert view["pods"] == ["two"] and not view["spare"]
    assert store.get_pod("two").hosts == ("pod-light-1", "pod-light-2", "spare-1")
    with pytest.raises(Conflict, match="already one of the hosts of pod two"):
        pool.pools.add("spare-1", "two")
    pool.apps.scale("web", 9)
    assert by_host(store)["spare-1"] >= 1
    draining = pool.pools.drain("spare-1")
    assert draining["draining"] and draining["nodes"] >= 1
    with pytest.raises(Conflict, match="still has"):
        pool.pools.remove("spare-1")
    events = [e.message for e in store.events(10) if e.kind in ("host.added", "host.draining")]
    assert events[0].startswith("host spare-1 is being drained: its") and "move to the pods' other hosts" in events[0]
    assert events[1] == ("host spare-1 joined pod two: 3 host(s) (pod-light-1, pod-light-2, spare-1), room for 12 "
                         "more node(s) of 0.25 CPU / 128 MiB")
    assert by_host(store) == {"pod-light-1": 3, "pod-light-2": 3, "spare-1": 3}
    pool.apps.scale("web", 6)                               # the draining host's nodes go first
    assert "spare-1" not in by_host(store)
    view = pool.pools.remove("spare-1")
    assert view["spare"] and not view["draining"] and store.get_pod("two").hosts == ("pod-light-1", "pod-light-2")
    with pytest.raises(Conflict, match="in no pod"):
        pool.pools.remove("spare-1")


def test_host_refusals(pool):
    with pytest.raises(NotFound, match="host 'ghost' is not known; the known hosts are pod-heavy, pod-light, "
                                       "pod-light-1, pod-light-2, pod-medium, spare-1"):
        pool.pools.add("ghost", "two")
    with pytest.raises(NotFound, match="pod 'nope'"):
        pool.pools.add("spare-1", "nope")
    with pytest.raises(Conflict, match="only host of pod light"):
        pool.pools.remove("pod-light")
    pool.pods.register(pod_spec(name="other", host="pod-light-1"))
    with pytest.raises(Conflict, match="host pod-light-1 is in pods other, two; name the pod"):
        pool.pools.remove("pod-light-1")
    with pytest.raises(Conflict, match="not one of the hosts of pod light"):
        pool.pools.remove("pod-light-1", "light")


def test_a_drained_host_of_the_pod_takes_nodes_again_when_added(pool, store):
    pool.pools.drain("pod-light-2")
    pool.apps.scale("web", 2)
    assert by_host(store) == {"pod-light-1": 2}
    assert not pool.pools.add("pod-light-2", "two")["draining"]
    pool.apps.scale("web", 4)
    assert by_host(store) == {"pod-light-1": 2, "pod-light-2": 2}
