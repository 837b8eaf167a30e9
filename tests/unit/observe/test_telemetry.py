"""What the loops record (observe/telemetry.py), read back with prometheus_client's own parser."""
from __future__ import annotations

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.observe.telemetry import Telemetry
from tests.unit.fakes import Clock


def scrape(telemetry: Telemetry) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) → value, parsed from the exposition."""
    out = {}
    for family in text_string_to_metric_families(telemetry.render().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def named(samples, name) -> dict[frozenset, float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def test_reconcile_passes_are_counted_per_host_and_outcome_with_their_duration():
    clock = Clock()
    t = Telemetry(clock=clock)
    t.reconcile_pass("pod-a", 0.02, "in_sync")
    t.reconcile_pass("pod-a", 0.3, "acted")
    clock.now += 7
    t.reconcile_pass("pod-a", 0.01, "in_sync")
    t.reconcile_pass("pod-b", 2.0, "host_unreachable")
    s = scrape(t)
    assert value(s, "simplecloud_reconcile_passes_total", host="pod-a", outcome="in_sync") == 2
    assert value(s, "simplecloud_reconcile_passes_total", host="pod-a", outcome="acted") == 1
    assert value(s, "simplecloud_reconcile_passes_total", host="pod-b", outcome="host_unreachable") == 1
    assert value(s, "simplecloud_reconcile_duration_seconds_count", host="pod-a") == 3
    assert value(s, "simplecloud_reconcile_duration_seconds_sum", host="pod-a") == pytest.approx(0.33)
    assert value(s, "simplecloud_reconcile_duration_seconds_bucket", host="pod-a", le="0.025") == 2
    assert value(s, "simplecloud_reconcile_duration_seconds_bucket", host="pod-b", le="1.0") == 0
    assert value(s, "simplecloud_reconcile_last_pass_timestamp_seconds", host="pod-a") == clock.now
    assert not [k for k in s if k[0].endswith("_created")]      # switched off: half the lines


def test_outcomes_are_a_closed_set():
    t = Telemetry()
    with pytest.raises(ValueError, match="unknown reconcile outcome 'fine'"):
        t.reconcile_pass("pod-a", 0.1, "fine")
    with pytest.raises(ValueError, match="unknown action outcome 'done'"):
        t.action("pod-a", "start_container", "done", 0.1)
    assert not named(scrape(t), "simplecloud_reconcile_passes_total")


def test_actions_by_kind_and_outcome_and_only_run_steps_are_timed():
    t = Telemetry()
    t.action("pod-a", "start_container", "ok", 0.2)
    t.action("pod-a", "start_container", "failed", 0.05)
    t.action("pod-a", "add_server", "skipped")
    s = scrape(t)
    assert value(s, "simplecloud_actions_total", host="pod-a", kind="start_container", outcome="ok") == 1
    assert value(s, "simplecloud_actions_total", host="pod-a", kind="start_container", outcome="failed") == 1
    assert value(s, "simplecloud_actions_total", host="pod-a", kind="add_server", outcome="skipped") == 1
    assert value(s, "simplecloud_action_duration_seconds_count", host="pod-a", kind="start_container") == 2
    assert value(s, "simplecloud_action_duration_seconds_count", host="pod-a", kind="add_server") is None


@pytest.mark.parametrize("current, replicas, direction", [(2, 4, "up"), (4, 2, "down"), (3, 3, "none")])
def test_autoscale_decisions_by_direction(current, replicas, direction):
    t = Telemetry()
    assert t.autoscale_decision("web", current, replicas) == direction
    assert value(scrape(t), "simplecloud_autoscale_decisions_total", app="web", direction=direction) == 1


def test_link_changes_host_calls_and_the_running_flag():
    t = Telemetry()
    t.link_change("pod-a", True)
    t.link_change("pod-a", False)
    t.link_change("pod-a", True)
    t.host_call("pod-a", "list_workers", 0.004)
    s = scrape(t)
    assert value(s, "simplecloud_host_link_changes_total", host="pod-a", state="up") == 2
    assert value(s, "simplecloud_host_link_changes_total", host="pod-a", state="down") == 1
    assert value(s, "simplecloud_host_call_duration_seconds_bucket", host="pod-a", call="list_workers",
                 le="0.005") == 1
    assert value(s, "simplecloud_controller_running") == 0
    t.controller_running(True)
    assert value(scrape(t), "simplecloud_controller_running") == 1


def test_each_telemetry_has_its_own_registry():
    a, b = Telemetry(), Telemetry()                 # a second one would clash in the global REGISTRY
    a.reconcile_pass("pod-a", 0.1, "acted")
    assert value(scrape(a), "simplecloud_reconcile_passes_total", host="pod-a", outcome="acted") == 1
    assert value(scrape(b), "simplecloud_reconcile_passes_total", host="pod-a", outcome="acted") is None
    assert b"simplecloud" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)
