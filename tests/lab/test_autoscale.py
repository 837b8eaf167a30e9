"""Autoscaling with real load through HAProxy: the light app driven up and
back down, the PES scenario (request bursts, rules evaluated every few
seconds), and scale to zero with the first request held, not refused.

Short windows and cooldowns keep these tests quick; bench/autoscale_bench.py
measures the defaults. Windows, cooldowns and bursts are the container lab's
seconds (``budget`` makes them a slower lab's); the open-loop rates and the
targets are the container lab's divided by how much slower a light node
answers here (``answer_slowdown``), so a lone node is as busy as there."""
from __future__ import annotations

import time

import pytest

from bench.labkit import OpenLoop
from tests.lab.conftest import (
    CONVERGE,
    answer_slowdown,
    budget,
    cloud,
    cloud_json,
    cloud_ok,
    get,
    wait_until,
)

pytestmark = pytest.mark.lab


def light() -> dict:
    return next(a for a in cloud_json("app", "ls") if a["name"] == "light")


def autoscale_events(since: float) -> list[dict]:
    return [e for e in cloud_json("events", "--limit", "200")
            if e["kind"] == "autoscale" and e["subject"] == "app/light" and e["time"] >= since]


@pytest.fixture
def light_autoscaled(light_empty):
    """The light app at one serving node; its policy is removed afterwards.
    Gives ``rate``: a request rate of the container lab, for this lab (two
    significant digits, as the CLI shows them)."""
    cloud_ok("app", "scale", "light", "1", "--wait", "--timeout", str(CONVERGE))
    slower = answer_slowdown()
    print(f"a light node answers {slower:.0f} times slower than on the container lab")
    yield lambda per_second: float(f"{per_second / slower:.2g}")
    cloud("app", "autoscale", "light", "--off")
    cloud("app", "scale", "light", "0")


def test_real_load_drives_an_app_up_and_back_down(light_autoscaled):
    rate, t0 = light_autoscaled, time.time()
    out = cloud_ok("app", "autoscale", "light", "--min", "1", "--max", "6", "--rps", f"{rate(4):g}",
                   "--window", str(budget(15)))
    assert out.strip() == f"app 'light' autoscales: 1..6, rps {rate(4):g}/node"
    with OpenLoop("/light", rate=rate(16), limit_s=budget(120), seed=7) as load:
        assert wait_until(lambda: light()["serving"] >= 4, CONVERGE), light()
    assert load.failures == [], load.failures[:5]
    ups = autoscale_events(t0)
    assert ups and all("req/s per node" in e["message"] for e in ups), ups
    assert "now rps" in cloud_ok("app", "ls")                # the metric against its target
    with OpenLoop("/light", rate=rate(2), limit_s=budget(180), seed=8) as low:   # load drops: scaled in
        assert wait_until(lambda: light()["replicas"] == 1, budget(120)), light()
        assert [get("/light")[0] for _ in range(4)] == [200] * 4    # and the node left serves
    assert low.failures == [], low.failures                  # nothing lost


def test_a_step_beyond_one_nodes_capacity_is_read_as_demand(light_autoscaled):
    """A target above what one light node answers (about 18 req/s): at 90 req/s
    offered, one node still answers about 18, and an autoscaler reading the
    answered rate would see 18 of 30 per node and hold while the queue grows.
    It reads the requests that arrive (issue 23), so it scales to 90 / 30 = 3
    or more. Where a node answers slower than the load generator's 64
    threads can wait for (a busy 2-core CI machine), the requests arrive only
    as fast as they are answered: then the queue in HAProxy stands (64 − 8
    per node), and that asks for the nodes."""
    rate, t0 = light_autoscaled, time.time()
    cloud_ok("app", "autoscale", "light", "--min", "1", "--max", "6", "--rps", f"{rate(30):g}",
             "--window", str(budget(15)))
    with OpenLoop("/light", rate=rate(90), limit_s=budget(90), seed=23):
        scaled = wait_until(lambda: light()["serving"] >= 3, CONVERGE)
        assert scaled, (light()["serving"], [e["message"] for e in autoscale_events(t0)])
    ups = [e for e in autoscale_events(t0) if "→" in e["message"]]
    assert ups, autoscale_events(t0)
    first = ups[-1]["message"]                                  # the events come newest first
    assert any(why in first for why in ("req/s per node > target", "the queue grew",
                                        "requests waited for a node all the time")), ups


def test_pes_scenario_bursts_and_rules(light_autoscaled):
    """The PES project's rules, evaluated every decision interval: request
    bursts add one node at a time, quiet periods take one away, and no rule
    acts inside the shared cooldown."""
    rate, t0 = light_autoscaled, time.time()
    cooldown = budget(10)
    up, down = f"rps > {rate(6):g} for {budget(4)}", f"rps < {rate(2):g} for {budget(6)}"
    cloud_ok("app", "autoscale", "light", "--min", "1", "--max", "3",
             "--rule", f"{up} step +1 cooldown {cooldown}", "--rule", f"{down} step -1 cooldown {cooldown}")
    for seconds, pause in ((35, 12), (15, 0)):        # a long burst, a quiet spell, a short burst
        seconds, pause = budget(seconds), budget(pause)
        with OpenLoop("/light", rate=rate(16), limit_s=seconds, seed=11 + seconds) as load:
            time.sleep(seconds)
        assert load.failures == [], load.failures[:5]
        time.sleep(pause)
    assert wait_until(lambda: light()["replicas"] == 1, budget(90)), light()    # quiet: back to min
    events = autoscale_events(t0)
    ups = [e for e in events if "(+1)" in e["message"]]
    downs = [e for e in events if "(-1)" in e["message"]]
    assert len(ups) >= 2 and downs, events                 # 16 req/s is > 6 per node on 1 and on 2 nodes
    assert all(e["message"].startswith(f"light: rule '{up} s' fired") for e in ups), ups
    assert all(e["message"].startswith(f"light: rule '{down} s' fired") for e in downs), downs
    steps = sorted(ups + downs, key=lambda e: e["time"])
    assert all(b["time"] - a["time"] >= cooldown for a, b in zip(steps, steps[1:])), steps   # the cooldown holds


def test_scale_to_zero_and_the_first_request_is_held_not_refused(light_autoscaled):
    t0 = time.time()
    cloud_ok("app", "autoscale", "light", "--min", "0", "--max", "2", "--rps", "10",
             "--idle-to-zero", str(budget(10)))
    assert wait_until(lambda: light()["replicas"] == 0, budget(60)), light()
    assert wait_until(lambda: not light()["phases"], budget(30)), light()    # its node is gone for real
    started = time.monotonic()
    status, body = get("/light", timeout=60)
    held = time.monotonic() - started
    assert status == 200 and body["job"] == "light", (status, body)
    assert light()["replicas"] == 1
    woken = [e for e in autoscale_events(t0) if "a request arrived while it was at zero" in e["message"]]
    assert len(woken) == 1, autoscale_events(t0)
    print(f"first request after zero answered in {held:.2f} s")
