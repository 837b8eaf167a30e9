"""The decision: wake an app at zero, idle an app to zero, or ask its policy."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrator.core.autoscale.bounds import bounds, finish
from orchestrator.core.autoscale.figures import shown_metrics
from orchestrator.core.autoscale.rules import decide_rules, track_rules
from orchestrator.core.autoscale.state import Decision, Sample, State
from orchestrator.core.autoscale.targets import (
    SCALE_DOWN_PERIOD_S,
    SCALE_UP_PERIOD_S,
    SCALE_UP_WINDOW_S,
    decide_targets,
)
from orchestrator.core.schema import Autoscale


def track_idle(idle_since: float | None, sample: Sample, current: int, now: float) -> float | None:
    """Since when the app has been idle: it has nodes, none starting (a starting
    node may have requests queued for it) and known to have had no request. An
    unknown count (None) or a single request starts over."""
    if current == 0 or sample.starting > 0 or sample.requests != 0:
        return None
    return now if idle_since is None else idle_since


def idle_long_enough(policy: Autoscale, idle_since: float | None, now: float) -> bool:
    """Scale to zero: only with min 0 and idle_to_zero_s, after that long idle."""
    return (policy.min == 0 and policy.idle_to_zero_s is not None and idle_since is not None
            and now - idle_since >= policy.idle_to_zero_s)


def wake(policy: Autoscale, sample: Sample, metrics: dict[str, Any]) -> Decision:
    """An app at 0 nodes goes to max(min, 1) when min asks for nodes or the
    sample shows requests (the request path wakes it first; this follows);
    otherwise it stays at 0."""
    low = bounds(policy, 1)[0]
    if policy.min > 0 and low > 0:
        return Decision(low, 0, f"0 → {low}: below min {policy.min}", metrics)
    busy = [x for x in (sample.requests, sample.rps, sample.inflight) if x is not None and x > 0]
    if busy and low > 0:
        return Decision(low, 0, f"0 → {low}: requests while at zero", metrics)
    return Decision(0, 0, "hold: at zero, no request", metrics)



def decide(policy: Autoscale, state: State, sample: Sample, current: int,
           now: float) -> tuple[Decision, State]:
    """The replica count ``policy`` wants for an app that has ``current``
    desired replicas, given ``sample``; and the state to remember.

    In order: an app at 0 is only woken (:func:`wake`); an app idle long
    enough goes to 0; with no node serving it holds; then the policy's kind
    decides (:func:`decide_targets` or :func:`decide_rules`). Every call
    records ``current`` for the rate limit and forgets what is older than the
    longest window."""
    keep = max(policy.scale_down_window_s, SCALE_UP_WINDOW_S)
    period = max(SCALE_UP_PERIOD_S, SCALE_DOWN_PERIOD_S)
    state = replace(
        state,
        recommendations=tuple((t, n) for t, n in state.recommendations if now - keep < t <= now),
        replicas_history=tuple((t, n) for t, n in state.replicas_history if now - period < t <= now)
        + ((now, current),),
        rule_since=track_rules(policy, sample, state.rule_since, now),
        idle_since=track_idle(state.idle_since, sample, current, now))
    metrics = shown_metrics(policy, sample)
    if current == 0:
        return wake(policy, sample, metrics), state
    if state.idle_since is not None and idle_long_enough(policy, state.idle_since, now):
        return Decision(0, current, f"idle for {now - state.idle_since:.0f} s: {current} → 0", metrics), state
    if sample.serving <= 0:
        why = f"{sample.starting} node(s) still starting" if sample.starting > 0 else "no node serving"
        return finish(policy, current, current, why, metrics), state
    if policy.kind == "rules":
        return decide_rules(policy, state, sample, current, now, metrics)
    return decide_targets(policy, state, sample, current, now, metrics)
