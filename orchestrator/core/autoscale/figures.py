"""A metric as a policy compares it (per serving node) and as a person reads it."""
from __future__ import annotations

import math

from orchestrator.core.autoscale.state import Sample
from orchestrator.core.schema import METRICS, Autoscale

_UNITS = {"rps": ("{} req/s per node", ""), "inflight": ("{} in flight per node", ""),
          "cpu": ("{}% CPU per node", "%"), "p95_ms": ("p95 {:.0f} ms", " ms")}


def per_node(metric: str, sample: Sample) -> float | None:
    """``metric`` as policies compare it: rps and inflight per serving node, cpu
    (already a mean per node) and p95_ms (app-wide) as they are; None when
    unknown, negative or not a finite number (a sampler's garbage), or when no
    node serves."""
    value = getattr(sample, metric) if metric in METRICS else None
    if value is None or not math.isfinite(value) or value < 0 or sample.serving <= 0:
        return None
    return value / sample.serving if metric in ("rps", "inflight") else float(value)


def describe(metric: str, value: float) -> str:
    """A metric's value in words, e.g. "41.2 req/s per node"; below 1, two
    significant digits ("0.041 req/s per node" against a target of 0.027,
    not "0.0")."""
    if metric == "p95_ms":
        return _UNITS[metric][0].format(value)
    return _UNITS[metric][0].format(f"{value:.2g}" if 0 < abs(value) < 1 else f"{value:.1f}")


def target_text(metric: str, target: float) -> str:
    return f"{target:g}{_UNITS[metric][1]}"



def shown_metrics(policy: Autoscale, sample: Sample) -> dict[str, tuple[float | None, float]]:
    """Each metric the policy uses → (its value, target or first threshold)."""
    if policy.kind == "targets":
        return {m: (per_node(m, sample), t) for m, t in policy.targets.items()}
    shown: dict[str, tuple[float | None, float]] = {}
    for rule in policy.rules:
        shown.setdefault(rule.metric, (per_node(rule.metric, sample), rule.threshold))
    return shown
