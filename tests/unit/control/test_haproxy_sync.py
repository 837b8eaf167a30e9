"""The HAProxy sync's choice of what goes into haproxy.cfg (pure logic; HAProxy is a stand-in)."""
from __future__ import annotations

from orchestrator.control.haproxy_sync import HAProxySync
from orchestrator.core.model import App, Pod
from orchestrator.core.schema import Autoscale
from orchestrator.settings import Settings
from tests.unit.fakes import FakeStore


class RecordingHAProxy:
    """Records what the HAProxy sync asks to render; reports no config yet."""

    def __init__(self):
        self.rendered: list[list[str]] = []

    def configured_apps(self):
        return {}

    def settings_drift(self):
        return ""

    def apply_config(self, apps, wake=frozenset()):
        self.rendered.append(sorted(a.name for a in apps))
        self.wake = wake
        return True


def test_a_bad_record_is_left_out_reported_once_and_the_rest_is_routed():
    store = FakeStore()
    store.put_pod(Pod(name="light", hosts=("pod-light",), max_nodes=5, cpus=0.5, memory_mb=128), create=True)
    for name, path in (("web", "/web"), ("web\n", "/webx\n")):   # the second predates exact checks
        store.put_app(App(name=name, pod="light", port=8000, image="img", path=path, created=0.0),
                      create=True)
    haproxy = RecordingHAProxy()
    sync = HAProxySync(store, haproxy, Settings().intervals, wake_hosts=lambda: None)
    assert sync.sync_config() and sync.sync_config()
    assert haproxy.rendered == [["web"], ["web"]]
    refused = [e for e in store.events(100) if e.kind == "app.refused"]
    assert len(refused) == 1 and refused[0].subject == "web\n"
    assert "left out of haproxy.cfg" in refused[0].message


def test_apps_that_scale_to_zero_get_the_waker():
    store = FakeStore()
    store.put_pod(Pod(name="light", hosts=("pod-light",), max_nodes=5, cpus=0.5, memory_mb=128), create=True)
    for name in ("web", "api"):
        store.put_app(App(name=name, pod="light", port=8000, image="img", path=f"/{name}", created=0.0),
                      create=True)
    store.put_autoscale("web", Autoscale.model_validate({"min": 0, "max": 3, "rps": 5.0, "idle_to_zero_s": 60.0}))
    store.put_autoscale("api", Autoscale.model_validate({"min": 1, "max": 3, "rps": 5.0}))
    haproxy = RecordingHAProxy()
    assert HAProxySync(store, haproxy, Settings().intervals, wake_hosts=lambda: None).sync_config()
    assert haproxy.wake == {"web"}
