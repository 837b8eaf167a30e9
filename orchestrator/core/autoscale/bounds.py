"""[min, max] and the words of a decision; a manual scale of an autoscaled app; a policy in words."""
from __future__ import annotations

from typing import Any

from orchestrator.core.autoscale.state import Decision
from orchestrator.core.schema import Autoscale


def bounds(policy: Autoscale, current: int) -> tuple[int, int]:
    """[min, max], where min 0 reads as 1 while the app has a node: only
    :func:`idle_long_enough` takes an app to 0."""
    low = policy.min if current == 0 else max(policy.min, 1)
    return min(low, policy.max), policy.max


def finish(policy: Autoscale, current: int, wanted: int, why: str, metrics: dict[str, Any]) -> Decision:
    """Clamp ``wanted`` to :func:`bounds`, saying so, and word the decision."""
    low, high = bounds(policy, current)
    replicas = min(max(wanted, low), high)
    if replicas > wanted:
        why += f"; wanted {wanted}, min {low}" if low == policy.min else f"; wanted {wanted}, at least 1 node"
    elif replicas < wanted:
        why += f"; wanted {wanted}, max {high}"
    head = f"{current} → {replicas}" if replicas != current else "hold"
    return Decision(replicas, current, f"{head}: {why}", metrics)



def clamp_manual(policy: Autoscale, replicas: int, app: str = "") -> tuple[int, str]:
    """A manual ``cloud app scale`` of an autoscaled app, clamped to [min, max],
    and the message saying so ("" when ``replicas`` was within)."""
    clamped = min(max(replicas, policy.min), policy.max)
    if clamped == replicas:
        return replicas, ""
    who = f"app {app} is autoscaled" if app else "autoscaled"
    return clamped, f"{who} within [{policy.min}, {policy.max}]: {replicas} clamped to {clamped}"



def summary(policy: Autoscale) -> str:
    """A policy in a few words, e.g. "2..10, rps 20/node, idle → 0 after 300 s"."""
    parts = [f"{policy.min}..{policy.max}"]
    parts += [f"{m} {v:g}{'' if m == 'p95_ms' else '/node'}" for m, v in policy.targets.items()]
    parts += [f"rule {r.metric} {r.comparator} {r.threshold:g} for {r.for_s:g} s: {r.step:+d}"
              for r in policy.rules]
    if policy.idle_to_zero_s is not None:
        parts.append(f"idle → 0 after {policy.idle_to_zero_s:g} s")
    return ", ".join(parts)
