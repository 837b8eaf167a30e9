"""The whole controller with the autoscaler and the waker: real etcd, real
HAProxy, real workers on the local dockerd, load sent to 127.0.0.1.

Windows are short (decisions every second) so the tests stay quick; the
decision itself is tested on traces in tests/unit/test_autoscale.py."""
from __future__ import annotations

import pytest
import requests

from orchestrator.core.schema import Autoscale
from orchestrator.usecases import UseCases

from .fixtures_cluster import all_healthy
from .fixtures_edges import wait_until
from .openloop import Load

pytestmark = pytest.mark.integration


def replicas(store) -> int:
    return len(store.list_nodes("ctl"))


def autoscale_events(store) -> list[str]:
    return [e.message for e in store.events(200) if e.kind == "autoscale"]


def test_load_scales_an_app_up_and_quiet_scales_it_back(running):
    c, store = running, running.store
    UseCases.over(store).apps.scale("ctl", 1)
    wait_until(lambda: all_healthy(c, ["ctl-1"]), 30, what="the first node to serve")
    store.put_autoscale("ctl", Autoscale.model_validate({"min": 1, "max": 3, "rps": 5.0, "scale_down_window_s": 3.0}))
    with Load(c.hap.url + "/light", rate=25, limit_s=60) as load:
        wait_until(lambda: replicas(store) == 3, 30, what="3 replicas under 25 req/s")
    assert load.statuses and set(load.statuses) == {200}, sorted(set(load.statuses))
    # the autoscaler writes its memory of a decision after the scale it made:
    # both are waited for, or the memory read could still be the one before
    def last_decision() -> dict:
        return (store.list_autoscale_states().get("ctl") or {}).get("last") or {}
    wait_until(lambda: replicas(store) == 1 and last_decision().get("replicas") == 1, 30,
               what="back to 1 replica without load, and that decision remembered")
    messages = autoscale_events(store)
    assert any("req/s per node > target 5" in m for m in messages), messages
    assert "rps" in last_decision()["metrics"]


def test_the_first_request_to_an_app_at_zero_is_held_and_answered(running):
    c, store = running, running.store
    store.put_autoscale("ctl", Autoscale.model_validate({"min": 0, "max": 2, "rps": 50.0, "idle_to_zero_s": 600.0}))
    wait_until(lambda: c.hap.driver.configured_apps().get("ctl", {}).get("wake") == "1", 20,
               what="the HAProxy sync to give app ctl its waker")
    assert replicas(store) == 0
    answer = requests.get(c.hap.url + "/light", timeout=30)
    assert answer.status_code == 200 and answer.json()["job"] == "light"
    assert replicas(store) == 1
    assert sum("a request arrived while it was at zero" in m for m in autoscale_events(store)) == 1
