"""The autoscale decision (pure), on recorded and simulated metric traces.

A trace is a list of samples over time fed through ``decide`` in a loop with
the state threaded through, as the autoscaler loop does every decision
interval. ``simulate`` also plays the cluster: new nodes serve ``startup``
seconds after they are desired, removed nodes leave at once.
"""
from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.core.autoscale import (
    SCALE_UP_MAX_NODES,
    SCALE_UP_PERIOD_S,
    Decision,
    Sample,
    State,
    clamp_manual,
    decide,
    describe,
)
from orchestrator.core.schema import Autoscale, AutoscaleRule


def make_policy(min, max, targets=None, rules=(), **kw) -> Autoscale:
    """A policy as the API would parse it (the one shape the decision reads)."""
    return Autoscale(min=min, max=max, **(targets or {}), rules=list(rules), **kw)


def make_rule(metric, comparator, threshold, for_s=0.0, step=1, cooldown_s=60.0) -> AutoscaleRule:
    return AutoscaleRule(metric=metric, comparator=comparator, threshold=threshold, for_s=for_s, step=step,
                         cooldown_s=cooldown_s)


RPS = make_policy(min=1, max=20, targets={"rps": 20})
EVERY = 5.0


def sample(t, serving, rps=None, starting=0, requests="auto", inflight=None, cpu=None, p95_ms=None):
    if requests == "auto":
        requests = None if rps is None else round(rps * EVERY)
    return Sample(time=t, serving=serving, starting=starting, requests=requests, rps=rps,
                  inflight=inflight, cpu=cpu, p95_ms=p95_ms)


def simulate(policy, load, *, nodes=2, until=300.0, startup=10.0, state=None, t0=0.0):
    """Decisions every EVERY seconds from t0 to until; ``load(t)`` is the app's
    rps averaged over the interval ending at t (None: unknown)."""
    ready = [t0 - 1000.0] * nodes
    state = state or State()
    log: list[tuple[float, Decision]] = []
    t = t0
    while t < until:
        serving = sum(r <= t for r in ready)
        d, state = decide(policy, state, sample(t, serving, load(t), starting=len(ready) - serving),
                          len(ready), t)
        if d.replicas > len(ready):
            ready += [t + startup] * (d.replicas - len(ready))
        ready = sorted(ready)[:d.replicas]
        log.append((t, d))
        t += EVERY
    return log, state


def changes(log):
    return [(t, d.current, d.replicas) for t, d in log if d.changed]


def assert_rate_limited(log):
    """No scale-up beyond max(2 × base, base + 4), base = the count desired one period before."""
    for t, d in log:
        if d.replicas > d.current:
            base = min([x.current for s, x in log if t - SCALE_UP_PERIOD_S < s <= t])
            assert d.replicas <= max(2 * base, base + SCALE_UP_MAX_NODES), (t, d.reason)


def averaged_step(at, before, after):
    """A step in load at time ``at``, as the sampler sees it (mean over the interval)."""
    def load(t):
        part = min(max((t - at) / EVERY, 0.0), 1.0)
        return before + part * (after - before)
    return load


# --- traces ------------------------------------------------------------------

def test_a_5x_step_scales_up_within_two_decisions_within_the_rate_limit():
    log, _ = simulate(RPS, averaged_step(62.5, 40, 200), until=200)
    assert changes(log) == [(65.0, 2, 6), (75.0, 6, 10)]        # 2 → 10 needs two 10 s periods
    assert log[13][1].reason == "2 → 6: 60.0 req/s per node > target 20 (×3.00)"   # the first sample
    assert log[14][1].reason == ("hold: 100.0 req/s per node > target 20 (×5.00); wanted 10, "
                                 "limited to 6 (+100% or +4 per 10 s from 2)")
    assert_rate_limited(log)
    assert log[-1][1].replicas == 10 and "within 10% of target 20" in log[-1][1].reason


def test_the_rate_limit_is_said_with_its_numbers():
    d, _ = decide(RPS, State(), sample(0, 2, 400), 2, 0)
    assert (d.replicas, d.reason) == (6, "2 → 6: 200.0 req/s per node > target 20 (×10.00); wanted 20, "
                                         "limited to 6 (+100% or +4 per 10 s from 2)")
    big = make_policy(min=1, max=100, targets={"rps": 20})
    d, _ = decide(big, State(), sample(0, 10, 1000), 10, 0)
    assert d.replicas == 20                                     # +100 % beats +4 from 10


def test_a_ramp_is_followed_up_and_never_down():
    def ramp(t):
        return 40 + min(t, 150) / 150 * 360                     # 40 → 400 rps over 150 s
    log, _ = simulate(RPS, ramp, until=240)
    counts = [d.replicas for _, d in log]
    assert counts == sorted(counts)                             # monotonic while load grows
    assert counts[-1] >= 19 and changes(log)[-1][0] <= 150 + 30   # 400 / 19 is within 10% of 20
    assert "is within 10% of target 20" in log[-1][1].reason
    assert_rate_limited(log)


def test_a_short_spike_scales_up_and_does_not_flap_down_within_the_window():
    def spike(t):
        return 180.0 if 100 < t <= 110 else 60.0                # 3 nodes at target, 10 s of 3×
    log, _ = simulate(RPS, spike, nodes=3, until=500)
    ups = [c for c in changes(log) if c[2] > c[1]]
    downs = [c for c in changes(log) if c[2] < c[1]]
    assert ups and ups[0][0] == 105.0
    last_high = max(t for t, d in log if "> target" in d.reason)
    assert downs and all(t >= last_high + 300 for t, _, _ in downs)
    assert len(downs) == 1 and downs[0][2] == 3                 # back in one step, no flapping
    assert changes(log) == [(105.0, 3, 7), (410.0, 7, 3)]
    held = [d.reason for t, d in log if last_high < t < last_high + 300 and "< target" in d.reason]
    assert held and all("highest in the last 300 s: " in r for r in held)


def test_noise_within_tolerance_changes_nothing_for_five_minutes():
    rng = random.Random(8)
    both = make_policy(min=1, max=20, targets={"rps": 20, "cpu": 60})
    state, current, seen = State(), 4, []
    for t in range(0, 300, 5):
        noisy = sample(t, 4, 80 * (1 + rng.uniform(-0.09, 0.09)), cpu=60 * (1 + rng.uniform(-0.09, 0.09)))
        d, state = decide(both, state, noisy, current, t)
        current = d.replicas
        seen.append(d)
    assert len(seen) == 60 and not any(d.changed for d in seen)
    assert all(d.reason.startswith("hold: ") and "is within 10% of target" in d.reason for d in seen)


def test_noise_at_a_steady_high_load_after_scaling_does_not_flap():
    rng = random.Random(3)
    log, _ = simulate(RPS, lambda t: 200 * (1 + rng.uniform(-0.05, 0.05)), nodes=10, until=600)
    assert changes(log) == []


# --- missing data ---------------------------------------------------------------

FLAKY = [   # a recorded trace with gaps: (sample, replicas decided, reason)
    (sample(0, 3, 60), 3, "hold: 20.0 req/s per node is within 10% of target 20"),
    (sample(5, 3, None), 3, "hold: no metrics yet"),                      # HAProxy unreachable
    (sample(10, 3, 150), 7, "3 → 7: 50.0 req/s per node > target 20 (×2.50); wanted 8, "
                            "limited to 7 (+100% or +4 per 10 s from 3)"),
    (sample(15, 3, None, starting=4), 7, "hold: no metrics yet"),
    (sample(20, 3, 30, starting=4), 7, "hold: 4 node(s) still starting; 10.0 req/s per node < target 20 (×0.50)"),
    (sample(25, 0, 0.0, starting=7), 7, "hold: 7 node(s) still starting"),  # a bad moment for everyone
    (sample(30, 7, 0.0), 7, "hold: 0.0 req/s per node < target 20 (×0.00), highest in the last 300 s: 8"),
]


def test_a_flaky_trace_holds_where_it_knows_nothing():
    state, current = State(), 3
    for s, replicas, reason in FLAKY:
        d, state = decide(RPS, state, s, current, s.time)
        assert (d.replicas, d.reason) == (replicas, reason)
        current = d.replicas


def test_no_metrics_holds():
    d, state = decide(RPS, State(), sample(0, 3), 3, 0)
    assert (d.replicas, d.reason) == (3, "hold: no metrics yet")
    assert d.metrics == {"rps": (None, 20)} and state.recommendations == ()


def test_a_missing_metric_is_skipped_not_read_as_zero():
    both = make_policy(min=1, max=20, targets={"rps": 20, "cpu": 50})
    d, _ = decide(both, State(), sample(0, 4, None, cpu=25), 4, 0)
    assert (d.replicas, d.reason) == (4, "hold: 25.0% CPU per node < target 50% (×0.50), "
                                         "highest in the last 300 s: 4")   # a new window holds
    assert d.metrics == {"rps": (None, 20), "cpu": (25.0, 50)}
    d, _ = decide(both, State(), sample(0, 4, 160, cpu=None), 4, 0)
    assert d.reason.startswith("4 → 8: 40.0 req/s per node > target 20 (×2.00)")


def test_a_value_that_is_not_a_finite_number_is_unknown():
    for garbage in (float("nan"), float("inf"), -5.0):
        d, _ = decide(RPS, State(), sample(0, 3, garbage, requests=0), 3, 0)
        assert (d.replicas, d.reason, d.metrics) == (3, "hold: no metrics yet", {"rps": (None, 20)})
    d, _ = decide(make_policy(min=1, max=9, targets={"rps": 20, "cpu": 50}), State(),
                  sample(0, 3, 60, cpu=float("inf")), 3, 0)
    assert d.reason == "hold: 20.0 req/s per node is within 10% of target 20"


def test_all_nodes_starting_holds():
    d, _ = decide(RPS, State(), sample(0, 0, 500, starting=3), 3, 0)
    assert (d.replicas, d.reason) == (3, "hold: 3 node(s) still starting")
    d, _ = decide(RPS, State(), sample(0, 0, None, starting=0), 3, 0)
    assert (d.replicas, d.reason) == (3, "hold: no node serving")


def test_no_scale_down_while_nodes_start_but_scale_up_from_serving_nodes():
    d, _ = decide(RPS, State(), sample(0, 2, 4, starting=2), 4, 0)
    assert (d.replicas, d.reason) == (4, "hold: 2 node(s) still starting; 2.0 req/s per node < target 20 "
                                         "(×0.10)")
    d, _ = decide(RPS, State(), sample(0, 2, 120, starting=2), 4, 0)   # 60 per serving node → 6
    assert (d.replicas, d.current) == (6, 4)
    d, _ = decide(RPS, State(), sample(0, 2, 60, starting=2), 4, 0)    # asks 3 < 4: nothing to add
    assert d.reason == "hold: 30.0 req/s per node > target 20 (×1.50); 4 desired, 2 serving, 2 starting"


def test_starting_nodes_and_unknown_counts_are_never_idle():
    zero = make_policy(min=0, max=5, targets={"rps": 20}, idle_to_zero_s=60)
    state = State()
    for t in range(0, 600, 5):
        d, state = decide(zero, state, sample(t, 1, 0.0, starting=1), 2, t)
        assert d.replicas == 2 and state.idle_since is None
    for t in range(600, 1200, 5):
        d, state = decide(zero, state, sample(t, 1, None), 1, t)
        assert d.replicas == 1 and state.idle_since is None


# --- targets, clamps ------------------------------------------------------------

def test_the_largest_ask_across_targets_wins_and_is_named():
    three = make_policy(min=1, max=50, targets={"rps": 20, "cpu": 50, "p95_ms": 200})
    d, _ = decide(three, State(), sample(0, 4, 120, cpu=90, p95_ms=220), 4, 0)
    assert d.replicas == 8 and d.reason == "4 → 8: 90.0% CPU per node > target 50% (×1.80)"
    assert d.metrics == {"rps": (30.0, 20), "cpu": (90.0, 50), "p95_ms": (220.0, 200)}
    d, _ = decide(three, State(), sample(0, 4, 40, cpu=20, p95_ms=500), 4, 0)
    assert d.replicas == 8 and d.reason.startswith("4 → 8: p95 500 ms > target 200 ms (×2.50)")
    d, _ = decide(three, State(), sample(0, 4, 80, inflight=40, cpu=None, p95_ms=None), 4, 0)
    assert d.replicas == 4 and "within 10% of target 20" in d.reason    # inflight has no target


def test_hpa_rounds_up():
    d, _ = decide(RPS, State(), sample(0, 4, 64), 4, 0)              # 4 × 0.80 = 3.2 → 4
    assert (d.replicas, d.reason) == (4, "hold: 16.0 req/s per node < target 20 (×0.80); "
                                         "4 × 0.80 rounds up to 4")
    d, _ = decide(RPS, State(), sample(0, 4, 92), 4, 0)              # 4 × 1.15 = 4.6 → 5
    assert (d.replicas, d.reason) == (5, "4 → 5: 23.0 req/s per node > target 20 (×1.15)")
    d, _ = decide(RPS, State(), sample(0, 3, 120), 3, 0)             # 3 × 2.0 is 6, not 7
    assert d.replicas == 6


def test_inflight_is_per_serving_node():
    d, _ = decide(make_policy(min=1, max=20, targets={"inflight": 2}), State(), sample(0, 3, 10, inflight=18), 3, 0)
    assert (d.replicas, d.reason) == (7, "3 → 7: 6.0 in flight per node > target 2 (×3.00); wanted 9, "
                                         "limited to 7 (+100% or +4 per 10 s from 3)")


def test_clamps_to_max_and_min_and_says_so():
    small = make_policy(min=2, max=5, targets={"rps": 20})
    d, _ = decide(small, State(), sample(0, 4, 400), 4, 0)
    assert (d.replicas, d.reason) == (5, "4 → 5: 100.0 req/s per node > target 20 (×5.00); wanted 20, "
                                         "max 5")
    big = make_policy(min=2, max=12, targets={"rps": 20})
    d, _ = decide(big, State(), sample(0, 4, 400), 4, 0)
    assert (d.replicas, d.reason) == (8, "4 → 8: 100.0 req/s per node > target 20 (×5.00); wanted 20, "
                                         "max 12, limited to 8 (+100% or +4 per 10 s from 4)")
    d, _ = decide(small, State(), sample(0, 5, 400), 5, 0)
    assert (d.replicas, d.reason) == (5, "hold: 80.0 req/s per node > target 20 (×4.00); wanted 20, max 5")
    d, _ = decide(small, State(((-10.0, 1),)), sample(0, 2, 1), 2, 0)
    assert (d.replicas, d.reason) == (2, "hold: 0.5 req/s per node < target 20 (×0.03), "
                                         "highest in the last 300 s: 1; wanted 1, min 2")
    d, _ = decide(small, State(), sample(0, 8, 160), 8, 0)      # the policy changed under the app
    assert (d.replicas, d.reason) == (5, "8 → 5: 20.0 req/s per node is within 10% of target 20; "
                                         "wanted 8, max 5")


def test_min_zero_without_idle_setting_keeps_one_node():
    log, _ = simulate(make_policy(min=0, max=5, targets={"rps": 20}), lambda t: 0.0, nodes=3, until=1000)
    assert changes(log) == [(300.0, 3, 1)]                      # after the window, never to 0
    assert log[-1][1].reason == ("hold: 0.0 req/s per node < target 20 (×0.00), highest in the last "
                                 "300 s: 0; wanted 0, at least 1 node")


def test_clamp_manual():
    policy = make_policy(min=2, max=10, targets={"rps": 20})
    assert clamp_manual(policy, 15, "web") == (10, "app web is autoscaled within [2, 10]: 15 clamped to 10")
    assert clamp_manual(policy, 1, "web") == (2, "app web is autoscaled within [2, 10]: 1 clamped to 2")
    assert clamp_manual(policy, 4, "web") == (4, "")
    assert clamp_manual(policy, 15) == (10, "autoscaled within [2, 10]: 15 clamped to 10")


# --- scale to zero -------------------------------------------------------------

ZERO = make_policy(min=0, max=5, targets={"rps": 20}, idle_to_zero_s=300)


def test_scale_to_zero_after_the_idle_period():
    log, state = simulate(ZERO, lambda t: 0.0 if t >= 100 else 40.0, nodes=2, until=500)
    assert changes(log) == [(395.0, 2, 1), (400.0, 1, 0)]      # the window, then idle since 100
    assert log[80][1].reason == "idle for 300 s: 1 → 0"
    d, _ = decide(ZERO, state, sample(500, 0, 0.0), 0, 500)
    assert (d.replicas, d.reason) == (0, "hold: at zero, no request")


def test_one_request_resets_the_idle_period():
    def load(t):
        return 0.2 if t == 200 else 0.0                          # one request in the interval
    log, _ = simulate(ZERO, load, nodes=1, until=600)
    assert changes(log) == [(505.0, 1, 0)]                      # idle again since 205
    assert log[-1][1].replicas == 0


def test_requests_at_zero_wake_the_app_to_one_node():
    d, state = decide(ZERO, State(idle_since=10.0), sample(0, 0, 0.0, inflight=1, requests=0), 0, 0)
    assert (d.replicas, d.reason) == (1, "0 → 1: requests while at zero") and state.idle_since is None
    d, _ = decide(make_policy(min=2, max=5, targets={"rps": 20}), State(), sample(0, 0), 0, 0)
    assert (d.replicas, d.reason) == (2, "0 → 2: below min 2")


# --- rules ----------------------------------------------------------------------

UP = make_rule("rps", ">", 50, for_s=10, step=2, cooldown_s=60)
DOWN = make_rule("rps", "<", 10, for_s=30, step=-1, cooldown_s=60)
RULES = make_policy(min=1, max=10, rules=(UP, DOWN))


def run_rules(policy, per_node, current=2, until=200, state=None):
    """``per_node(t)`` rps per node (None: unknown) on ``current`` nodes, all serving."""
    state, log = state or State(), []
    for t in range(0, until, 5):
        value = per_node(t)
        d, state = decide(policy, state, sample(t, current, None if value is None else value * current),
                          current, t)
        current = d.replicas
        log.append((t, d))
    return log, state


def test_a_rule_fires_after_holding_for_its_time_then_cools_down():
    log, state = run_rules(RULES, lambda t: 61.0, until=100)
    first = changes(log)[0]
    assert first == (10, 2, 4)
    assert log[2][1].reason == ("rule 'rps > 50 for 10 s' fired: 2 → 4 (+2); cooling down 60 s; "
                                "61.0 req/s per node")
    assert log[1][1].reason == "hold: rule 'rps > 50 for 10 s' has held 5 s of 10"
    assert log[5][1].reason == "hold: cooling down, 45 s left"
    assert changes(log) == [(10, 2, 4), (70, 4, 6)]            # held through the cooldown: acts at once


def test_an_unknown_value_or_a_break_starts_the_rule_over():
    def gappy(t):
        return None if t == 5 else (5.0 if t == 15 else 61.0)
    log, _ = run_rules(RULES, gappy, until=60)
    assert changes(log)[0] == (30, 2, 4)                         # held from 20 to 30


def test_when_rules_fire_together_the_biggest_ask_wins():
    both = make_policy(min=1, max=10, rules=(make_rule("cpu", ">", 80, 0, 1, 30), make_rule("rps", ">", 50, 0, 3, 30),
                                        make_rule("rps", ">", 10, 0, -1, 30)))
    d, state = decide(both, State(), sample(0, 2, 200, cpu=90), 2, 0)
    assert (d.replicas, d.reason.startswith("rule 'rps > 50 for 0 s' fired: 2 → 5 (+3)")) == (5, True)
    assert state.rule_since == {} and state.cooldown_until == 30
    gentle = make_policy(min=1, max=10, rules=(make_rule("rps", "<", 50, 0, -3, 30),
                                               make_rule("cpu", "<", 50, 0, -1, 30)))
    d, _ = decide(gentle, State(), sample(0, 6, 60, cpu=10), 6, 0)
    assert (d.replicas, d.current) == (5, 6)


def test_rules_are_clamped_and_a_clamped_rule_keeps_its_timer():
    d, state = decide(RULES, State(rule_since={0: -20.0}), sample(0, 9, 900), 9, 0)
    assert (d.replicas, d.reason) == (10, "rule 'rps > 50 for 10 s' fired: 9 → 10 (+2, max 10); "
                                          "cooling down 60 s; 100.0 req/s per node")
    d, state = decide(RULES, State(rule_since={0: -20.0}), sample(0, 10, 1000), 10, 0)
    assert (d.replicas, d.reason) == (10, "hold: rule 'rps > 50 for 10 s' fired (+2); wanted 12, max 10")
    assert state.rule_since == {0: -20.0} and state.cooldown_until == 0


def test_rules_never_scale_down_while_nodes_start():
    d, state = decide(RULES, State(rule_since={1: -60.0}), sample(0, 2, 2, starting=1), 3, 0)
    assert (d.replicas, d.reason) == (3, "hold: 1 node(s) still starting; rule 'rps < 10 for 30 s' wants -1")
    d, _ = decide(RULES, state, sample(5, 3, 3), 3, 5)
    assert (d.replicas, d.current) == (2, 3)                   # no stabilization window for rules


# --- state: JSON, restart, garbage ---------------------------------------------

def test_state_round_trips_through_json():
    state = State(recommendations=((1.0, 3), (6.5, 4)), replicas_history=((6.5, 3),),
                  rule_since={0: 2.0, 3: 4.5}, cooldown_until=70.0, idle_since=12.0)
    assert State.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert State.from_dict(json.loads(json.dumps(State().to_dict()))) == State()
    assert State.from_dict({}) == State()
    assert State.from_dict({"cooldown_until": 5, "future_field": [1, 2]}) == State(cooldown_until=5.0)


def test_a_restart_resumes_with_the_windows_intact():
    def spike(t):
        return 180.0 if 100 < t <= 110 else 60.0
    whole, _ = simulate(RPS, spike, nodes=3, until=500, startup=0)
    first, state = simulate(RPS, spike, nodes=3, until=200, startup=0)
    restored = State.from_dict(json.loads(json.dumps(state.to_dict())))
    rest, _ = simulate(RPS, spike, nodes=first[-1][1].replicas, until=500, startup=0, state=restored, t0=200)
    assert [(t, d.replicas, d.reason) for t, d in first + rest] == [(t, d.replicas, d.reason) for t, d in whole]
    rules_whole, _ = run_rules(RULES, lambda t: 61.0, until=100)
    part, state = run_rules(RULES, lambda t: 61.0, until=40)
    # the cooldown survives: resuming at 40 from JSON acts at 70 as the unbroken run does
    state = State.from_dict(json.loads(json.dumps(state.to_dict())))
    current, log = part[-1][1].replicas, []
    for t in range(40, 100, 5):
        d, state = decide(RULES, state, sample(t, current, 61.0 * current), current, t)
        current = d.replicas
        log.append((t, d.replicas, d.reason))
    assert log == [(t, d.replicas, d.reason) for t, d in rules_whole if t >= 40]


@pytest.mark.parametrize("garbage", [
    None, "state", [], 3,
    {"recommendations": "abc"}, {"recommendations": [[1, "a"]]}, {"recommendations": [[1]]},
    {"recommendations": [[True, 1]]}, {"replicas_history": [[1, -2]]}, {"replicas_history": [[1, 2.5]]},
    {"rule_since": {"a": 1}}, {"rule_since": [1]}, {"rule_since": {"0": "soon"}},
    {"cooldown_until": "soon"}, {"cooldown_until": False}, {"idle_since": float("nan")},
    {"idle_since": float("inf")}, {"rule_since": {"-1": 0}},
])
def test_garbage_state_is_a_value_error(garbage):
    with pytest.raises(ValueError):
        State.from_dict(garbage)


# --- properties ------------------------------------------------------------------

metric = st.one_of(st.none(), st.floats(0, 10_000), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 3), metric, metric, metric, metric,
                          st.one_of(st.none(), st.integers(0, 100))), min_size=1, max_size=30),
       st.integers(0, 3), st.integers(0, 12), st.booleans(), st.booleans())
def test_any_trace_stays_within_bounds_and_its_state_round_trips(trace, low, span, to_zero, rules):
    targets = {"rps": 20, "cpu": 60, "p95_ms": 300, "inflight": 4}
    policy = make_policy(min=low, max=max(1, low + span), targets=None if rules else targets,
                         rules=(UP, DOWN, make_rule("cpu", ">=", 80, 0, 3, 5)) if rules else (),
                         idle_to_zero_s=60 if to_zero and low == 0 else None)
    state, current = State(), low
    for i, (serving, starting, rps, inflight, cpu, p95, requests) in enumerate(trace):
        t = i * EVERY
        d, state = decide(policy, state, Sample(t, serving, starting, requests, rps, inflight, cpu, p95),
                          current, t)
        assert d.replicas == 0 or policy.min <= d.replicas <= policy.max
        if d.replicas < current:
            assert starting == 0 or d.replicas == 0 or current > policy.max
        assert State.from_dict(json.loads(json.dumps(state.to_dict()))) == state
        assert math.isfinite(state.cooldown_until)
        current = d.replicas


def test_a_small_rate_is_said_with_two_significant_digits():
    """A slow lab's targets are fractions of a request per second: the
    reason must not say "0.0 req/s per node > target 0.027"."""
    assert describe("rps", 0.0412) == "0.041 req/s per node"
    assert describe("rps", 41.23) == "41.2 req/s per node"
    assert describe("rps", 0.0) == "0.0 req/s per node"
    assert describe("inflight", 0.5) == "0.5 in flight per node"
    assert describe("p95_ms", 250.4) == "p95 250 ms"
