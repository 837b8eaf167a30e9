"""The warm pools' refill loop (control/warm_pools.py) on the FakeStore, with a
hand-moved clock: a scale-out uses the pool and starts nothing for it; the
pool is refilled once the app's serving nodes all serve, a batch at a time,
each once the last one is warm, or after the patience whatever they do; a
full pod adds what fits and says nothing more; an app without a pool is
left alone."""
from __future__ import annotations

import threading
import time

from orchestrator.control.warm_pools import WarmPools
from orchestrator.core.model import Host
from tests.bodies import app_spec, pod_spec
from tests.unit.fakes import Clock

PATIENCE = 10.0


def setup(store, cases, max_nodes: int = 4, warm: int = 2, batch: int = 4):
    """Pod "pool" over hosts a and b, app web: one serving node and a pool of ``warm``."""
    store.register_hosts([Host("a", max_nodes, 2.0, 1024), Host("b", max_nodes, 2.0, 1024)])
    cases.pods.register(pod_spec(name="pool", hosts=["a", "b"], max_nodes=max_nodes, cpus=0.25, memory_mb=128))
    cases.apps.deploy(app_spec(name="web", pod="pool", port=8000, image="img", replicas=1, warm=warm))
    clock = Clock(100.0)
    return WarmPools(store, cases.apps, 1.0, patience=PATIENCE, batch=batch, clock=clock), clock


def pool(store) -> list[tuple[str, bool]]:
    return [(n.name, n.warm) for n in store.list_nodes("pool")]


def seen(store, phase: str = "serving") -> None:
    """The controller saw every serving node of web in ``phase``, every warm one warm."""
    for n in store.list_nodes("pool"):
        store.put_observed("pool", n.name, {"phase": "warm" if n.warm else phase, "node_created": n.created})


def test_the_pool_is_refilled_once_the_promoted_nodes_serve(store, cases):
    loop, _ = setup(store, cases)
    assert loop.refill_once() == []                                   # full
    cases.apps.scale("web", 3)
    assert pool(store) == [("web-1", False), ("web-2", False), ("web-3", False)]   # promoted, nothing added
    assert loop.refill_once() == []                                   # web-2 and web-3 not seen serving yet
    seen(store, "starting")
    assert loop.refill_once() == []
    seen(store)
    assert loop.refill_once() == ["web"]
    assert pool(store)[3:] == [("web-4", True), ("web-5", True)]
    assert loop.refill_once() == []                                   # full again


def test_a_pool_short_for_longer_than_the_patience_is_refilled_whatever_its_nodes_do(store, cases):
    loop, clock = setup(store, cases)
    cases.apps.scale("web", 2)
    assert loop.refill_once() == []
    clock.now += PATIENCE - 1
    assert loop.refill_once() == []
    clock.now += 1
    assert loop.refill_once() == ["web"] and [w for _, w in pool(store)].count(True) == 2


def test_a_full_pod_takes_what_fits_and_the_loop_tries_again_quietly(store, cases):
    loop, _ = setup(store, cases, max_nodes=2, warm=2)                # 4 slots: 1 serving, 2 warm, 1 free
    cases.apps.scale("web", 3)                                        # both warm ones promoted
    seen(store)
    assert loop.refill_once() == ["web"]                              # one of two fits
    assert [w for _, w in pool(store)].count(True) == 1
    assert loop.refill_once() == []                                   # no room: nothing added, nothing said


def test_apps_without_a_pool_are_left_alone(store, cases):
    loop, _ = setup(store, cases, warm=0)
    cases.apps.scale("web", 3)
    assert loop.refill_once() == [] and len(pool(store)) == 3


def test_a_big_refill_goes_a_batch_at_a_time_each_once_the_last_is_warm(store, cases):
    loop, clock = setup(store, cases, max_nodes=8, warm=5, batch=2)
    cases.apps.scale("web", 6)                                        # the whole pool promoted
    seen(store)
    assert loop.refill_once() == ["web"] and [w for _, w in pool(store)].count(True) == 2
    assert loop.refill_once() == []                                   # the batch is not warm yet
    clock.now += PATIENCE - 1
    seen(store)
    assert loop.refill_once() == ["web"] and [w for _, w in pool(store)].count(True) == 4
    assert loop.refill_once() == []
    clock.now += PATIENCE                                             # a batch that never gets warm
    assert loop.refill_once() == ["web"] and [w for _, w in pool(store)].count(True) == 5
    assert len(pool(store)) == 11


def test_the_loop_survives_an_unexpected_error_and_tries_again(store, cases):
    loop, _ = setup(store, cases)
    cases.apps.scale("web", 3)
    seen(store)
    calls = []

    class Broken:
        def fill_pool(self, app, at_most=None):
            calls.append(app.name)
            raise KeyError("a record from an older version")
    loop.filler, loop.interval = Broken(), 0.01
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 10
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    loop.wake.set()
    thread.join(10)
    assert len(calls) >= 2 and not thread.is_alive()
