"""Rules, as the PES project has them: "metric comparator threshold for N
seconds → step nodes, then cool down for M seconds"."""
from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from orchestrator.core.autoscale.bounds import bounds, finish
from orchestrator.core.autoscale.figures import describe, per_node
from orchestrator.core.autoscale.state import Decision, Sample, State
from orchestrator.core.schema import Autoscale, AutoscaleRule

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def rule_label(rule: AutoscaleRule) -> str:
    return f"{rule.metric} {rule.comparator} {rule.threshold:g} for {rule.for_s:g} s"


def track_rules(policy: Autoscale, sample: Sample, since: dict[int, float], now: float) -> dict[int, float]:
    """Since when each rule's condition has held without a break; an unknown
    value (None) or a failed condition starts that rule over."""
    held = {}
    for i, rule in enumerate(policy.rules):
        if rule.comparator not in _COMPARE:
            raise ValueError(f"rule {rule_label(rule)!r}: unknown comparator {rule.comparator!r}")
        value = per_node(rule.metric, sample)
        if value is not None and _COMPARE[rule.comparator](value, rule.threshold):
            held[i] = since.get(i, now)
    return held


def fired_rules(policy: Autoscale, since: dict[int, float], now: float) -> list[int]:
    """The rules held for their for_s, the winner first: the one asking for the
    most nodes (any scale-up beats any scale-down, and among scale-downs the
    gentlest wins, as the biggest ask wins among targets); ties: the first rule."""
    fired = [i for i, t in since.items() if now - t >= policy.rules[i].for_s]
    return sorted(fired, key=lambda i: (-policy.rules[i].step, i))


def decide_rules(policy: Autoscale, state: State, sample: Sample, current: int, now: float,
                 metrics: dict[str, Any]) -> tuple[Decision, State]:
    """PES-style rules. No rule acts before cooldown_until; when the winning
    rule acts, every rule that had fired starts its timer over and all rules
    cool down for the winner's cooldown_s; conditions keep being timed during
    the cooldown. A rule that would change nothing
    (clamped, or a scale-down while nodes start) neither acts nor loses its
    timer. No stabilization window or rate limit applies."""
    if all(per_node(rule.metric, sample) is None for rule in policy.rules):
        return finish(policy, current, current, "no metrics yet", metrics), state
    if now < state.cooldown_until:
        why = f"cooling down, {math.ceil(state.cooldown_until - now)} s left"
        return finish(policy, current, current, why, metrics), state
    fired = fired_rules(policy, state.rule_since, now)
    if not fired:
        return finish(policy, current, current, _waiting(policy, state.rule_since, now), metrics), state
    rule = policy.rules[fired[0]]
    low, high = bounds(policy, current)
    replicas = min(max(current + rule.step, low), high)
    if rule.step < 0 and sample.starting > 0:
        why = f"{sample.starting} node(s) still starting; rule '{rule_label(rule)}' wants {rule.step:+d}"
        return finish(policy, current, current, why, metrics), state
    if replicas == current:
        why = f"rule '{rule_label(rule)}' fired ({rule.step:+d})"
        return finish(policy, current, current + rule.step, why, metrics), state
    step = f"{rule.step:+d}" + ("" if replicas == current + rule.step
                                else f", {'max' if replicas == high else 'min'} {replicas}")
    why = (f"rule '{rule_label(rule)}' fired: {current} → {replicas} ({step}); cooling down "
           f"{rule.cooldown_s:g} s; {describe(rule.metric, per_node(rule.metric, sample) or 0.0)}")
    since = {i: t for i, t in state.rule_since.items() if i not in fired}
    new = replace(state, rule_since=since, cooldown_until=now + rule.cooldown_s)
    return Decision(replicas, current, why, metrics), new


def _waiting(policy: Autoscale, since: dict[int, float], now: float) -> str:
    """Which rule is closest to firing, in words."""
    if not since:
        return "no rule's condition holds"
    i = max(since, key=lambda i: (now - since[i]) / max(policy.rules[i].for_s, 1e-9))
    rule = policy.rules[i]
    return f"rule '{rule_label(rule)}' has held {now - since[i]:.0f} s of {rule.for_s:g}"

