"""The waker (control/waker.py): the first request to an app at zero scales it
to its first node once, is held until HAProxy has a server of it up, then
answered 503 for HAProxy to retry; an app that does not scale to zero is
refused in words. The HTTP side is driven with a request stand-in."""
from __future__ import annotations

import io
import json
import threading
import time

import pytest

from orchestrator.control.waker import APP_HEADER, Waker
from orchestrator.core.errors import NotFound
from orchestrator.core.model import Server
from tests.bodies import app_update, policy
from tests.unit.fakes import FakeHAProxy


@pytest.fixture
def waker(world):
    """App web of the world at zero replicas, autoscaled with min 0 (it scales to zero)."""
    world.cases.apps.scale("web", 0)
    world.cases.autoscaling.set("web", policy(min=0, max=3, rps=10, idle_to_zero_s=60))
    return Waker(world.store, world.cases.apps, FakeHAProxy(), port=0, start_timeout=0.0)


def test_the_first_request_scales_an_app_at_zero_once(waker, world):
    assert waker.wake("web") == "web: 0 → 1: a request arrived while it was at zero"
    assert world.cases.apps.get("web")["replicas"] == 1
    assert waker.wake("web") == ""                       # it has a node now: nothing more
    assert world.cases.apps.get("web")["replicas"] == 1
    assert [e.message for e in world.store.events(10) if e.kind == "autoscale"] == \
        ["web: 0 → 1: a request arrived while it was at zero"]


def test_the_first_node_is_the_policy_s_min_when_it_asks_for_more(waker, world):
    world.cases.autoscaling.set("web", policy(min=2, max=3, rps=10))
    waker.wake("web")
    assert world.cases.apps.get("web")["replicas"] == 2


def test_an_app_that_does_not_scale_to_zero_is_refused(waker, world):
    world.cases.autoscaling.remove("web")
    with pytest.raises(NotFound, match="app 'web' does not scale to zero"):
        waker.wake("web")
    with pytest.raises(NotFound, match="app 'ghost' does not scale to zero"):
        waker.wake("ghost")


def test_serving_means_a_healthy_ready_server_of_the_app(waker):
    assert not waker.wait_until_serving("web", timeout=0.0)
    waker.haproxy.servers[("app_web", "web-1.0123456789")] = Server("app_web", "web-1.0123456789", "10.0.0.2",
                                                                    8000, "drain", True)
    assert not waker.wait_until_serving("web", timeout=0.0)        # draining: not serving
    waker.haproxy.servers[("app_other", "o-1.0123456789")] = Server("app_other", "o-1.0123456789", "10.0.0.3",
                                                                    8000, "ready", True)
    assert not waker.wait_until_serving("web", timeout=0.0)        # another app's
    waker.haproxy.servers[("app_web", "web-1.0123456789")] = Server("app_web", "web-1.0123456789", "10.0.0.2",
                                                                    8000, "ready", True)
    assert waker.wait_until_serving("web", timeout=0.0)


class Request:
    """What ``Waker.hold`` uses of a BaseHTTPRequestHandler."""

    def __init__(self, app, command="GET"):
        self.headers, self.command, self.wfile = {APP_HEADER: app}, command, io.BytesIO()
        self.status, self.sent = None, {}

    def send_response(self, status):
        self.status = status

    def send_header(self, name, value):
        self.sent[name] = value

    def end_headers(self):
        pass


def test_a_held_request_is_answered_503_to_be_retried(waker, world):
    request = Request("web")
    waker.hold(request)
    assert request.status == 503 and request.sent["Retry-After"] == "0"
    body = json.loads(request.wfile.getvalue())
    assert body == {"error": "app web did not start within 0 s; see: cloud node ls"}
    assert world.cases.apps.get("web")["replicas"] == 1          # woken all the same
    refused = Request("nope", command="HEAD")
    waker.hold(refused)
    assert refused.status == 503 and refused.wfile.getvalue() == b""     # HEAD: no body
    assert refused.sent["Content-Length"] == str(len(json.dumps({"error": "app 'nope' does not scale to zero"})))


class CountingHAProxy(FakeHAProxy):
    """Records which threads read the servers."""

    def __init__(self):
        super().__init__()
        self.readers: set[str] = set()

    def show_servers(self):
        self.readers.add(threading.current_thread().name)
        return super().show_servers()


def held(waker, world, count):
    """``count`` requests held for web at once, each in its own thread; returns
    (threads, requests), once the waker holds them all."""
    requests = [Request("web") for _ in range(count)]
    threads = [threading.Thread(target=waker.hold, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while waker._held < min(count, waker.max_held) and time.monotonic() < deadline:
        time.sleep(0.01)
    return threads, requests


def test_a_burst_for_one_app_is_watched_by_one_poller(world):
    world.cases.apps.scale("web", 0)
    world.cases.autoscaling.set("web", policy(min=0, max=3, rps=10, idle_to_zero_s=60))
    haproxy = CountingHAProxy()
    waker = Waker(world.store, world.cases.apps, haproxy, port=0, start_timeout=30.0)
    threads, requests = held(waker, world, 40)
    haproxy.servers[("app_web", "web-1.0123456789")] = Server("app_web", "web-1.0123456789", "10.0.0.2", 8000,
                                                              "ready", True)
    for t in threads:
        t.join(timeout=10)
    assert all(r.status == 503 and b"is up now" in r.wfile.getvalue() for r in requests)
    assert haproxy.readers == {"waker-web"}             # 40 requests, one thread reading HAProxy
    assert world.cases.apps.get("web")["replicas"] == 1


def test_beyond_the_limit_a_request_is_answered_at_once_with_retry_after(world):
    world.cases.apps.scale("web", 0)
    world.cases.autoscaling.set("web", policy(min=0, max=3, rps=10, idle_to_zero_s=60))
    haproxy = FakeHAProxy()
    waker = Waker(world.store, world.cases.apps, haproxy, port=0, start_timeout=30.0, max_held=5)
    threads, requests = held(waker, world, 5)
    late = Request("web")
    waker.hold(late)                                    # returns at once: the five are still held
    assert late.status == 503 and late.sent["Retry-After"] == "1"
    assert "too many requests are waiting" in json.loads(late.wfile.getvalue())["error"]
    assert all(r.status is None for r in requests)
    haproxy.servers[("app_web", "web-1.0123456789")] = Server("app_web", "web-1.0123456789", "10.0.0.2", 8000,
                                                              "ready", True)
    for t in threads:
        t.join(timeout=10)
    assert all(r.sent["Retry-After"] == "0" for r in requests) and waker._held == 0


def test_an_app_at_zero_with_a_warm_pool_is_woken_by_promoting_its_warm_node(world):
    world.cases.apps.update("web", app_update(warm=1))
    world.cases.autoscaling.set("web", policy(min=0, max=3, rps=10, idle_to_zero_s=60))
    world.cases.apps.scale("web", 0)
    kept = [n for n in world.store.list_nodes("tiny") if n.app == "web"]
    assert [n.warm for n in kept] == [True]                   # at zero, one node stays warm
    waker = Waker(world.store, world.cases.apps, FakeHAProxy(), port=0, start_timeout=0.0)
    assert waker.wake("web").startswith("web: 0 → 1")
    after = {n.name: n for n in world.store.list_nodes("tiny") if n.app == "web"}
    assert after[kept[0].name].warm is False                   # the warm node serves: no start
    assert sum(n.warm for n in after.values()) == 0            # the pool is refilled later (warm_pools)
    assert waker.wake("web") == ""
