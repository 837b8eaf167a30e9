"""Autoscaling decisions: pure functions from a policy, a metric sample and
the remembered state to a replica count and the reason for it.

Nothing here reads a clock, etcd, HAProxy or Docker: the autoscaler
(control/autoscaler.py) samples the metrics (control/metrics.py), calls
:func:`decide` every decision interval with ``now``, applies the answer
through the service layer, records the decision as an event and stores the
returned :class:`State` in etcd, so a restarted manager resumes with its
stabilization windows and cooldowns intact.

Two policy kinds:

* **targets** (Kubernetes' HPA): for each metric with a target,
  ``desired = ceil(serving × value / target)``; a ratio within the tolerance
  of 1 changes nothing; the biggest ask across targets wins; scale-up is
  rate-limited (at most +100 % or +4 nodes, whichever is more, per 15 s);
  scale-down takes the highest recommendation of the stabilization window
  (300 s by default), so a short dip never removes nodes.
* **rules** (the PES project): "metric comparator threshold for N seconds →
  step nodes, then cool down for M seconds".

Metrics are per serving node (rps, inflight, cpu) or app-wide (p95_ms).
Nodes still starting get no traffic: they are never counted as idle, and no
scale-down happens while any node is starting.

This module is the skeleton of the contract between the decision (pure),
the metrics sampler and the autoscaler loop; see the docstrings.
"""
from __future__ import annotations

from dataclasses import dataclass, field

METRICS = ("rps", "inflight", "cpu", "p95_ms")
"""rps: requests/s per serving node; inflight: requests in progress or queued
per serving node; cpu: % of a node's own CPU limit (100 = the whole limit);
p95_ms: the app's 95th percentile response time over the sampling window."""

COMPARATORS = (">", ">=", "<", "<=")


@dataclass(frozen=True)
class Rule:
    """PES-style rule: when ``metric comparator threshold`` has held for
    ``for_s`` seconds, change the replicas by ``step`` (+N or -N), then do
    nothing for ``cooldown_s`` seconds (for any rule of this policy)."""

    metric: str
    comparator: str
    threshold: float
    for_s: float
    step: int
    cooldown_s: float


@dataclass(frozen=True)
class Policy:
    """One app's autoscale policy (kept on the app record in etcd).

    ``targets`` maps metric name → target value per node (p95_ms: app-wide);
    ``rules`` non-empty makes it a rules policy (targets are then ignored).
    ``idle_to_zero_s``: scale to zero after this long without a request
    (only if ``min`` is 0); the first request afterwards wakes the app."""

    min: int
    max: int
    targets: dict[str, float] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    idle_to_zero_s: float | None = None
    scale_down_window_s: float = 300.0
    scale_up_window_s: float = 0.0
    tolerance: float = 0.1

    @property
    def kind(self) -> str:
        return "rules" if self.rules else "targets"


@dataclass(frozen=True)
class Sample:
    """What the metrics sampler saw of one app, averaged over the decision interval.

    ``serving``: nodes passing health checks (the ones getting traffic);
    ``starting``: nodes desired but not serving yet. Any metric may be None
    (unknown: no data yet, HAProxy or a host unreachable); a None metric is
    skipped, never read as 0. ``requests`` counts the requests of the
    interval (0 means idle, for scale-to-zero)."""

    time: float
    serving: int
    starting: int
    requests: int | None
    rps: float | None          # whole app, requests/s (per node = rps / serving)
    inflight: float | None     # whole app: in progress + queued
    cpu: float | None          # mean % of the node limit over serving nodes
    p95_ms: float | None       # app-wide


@dataclass(frozen=True)
class State:
    """What the decision remembers between calls (stored in etcd as JSON).

    ``recommendations``: (time, replicas) of recent recommendations, for the
    stabilization windows; ``replicas_history``: (time, replicas) of recent
    replica counts, for the scale-up rate limit; ``rule_since``: rule index →
    since when its condition has held; ``cooldown_until``: no rule acts before
    this time; ``idle_since``: since when no request arrived (None: busy)."""

    recommendations: tuple[tuple[float, int], ...] = ()
    replicas_history: tuple[tuple[float, int], ...] = ()
    rule_since: dict[int, float] = field(default_factory=dict)
    cooldown_until: float = 0.0
    idle_since: float | None = None

    def to_dict(self) -> dict:
        raise NotImplementedError   # the decision module's author fills this in

    @classmethod
    def from_dict(cls, data: dict) -> State:
        raise NotImplementedError


@dataclass(frozen=True)
class Decision:
    """The answer: ``replicas`` wanted (within [min, max]) and why, in words
    with its numbers, e.g. "3 → 6: 41.2 req/s per node > target 20 (×2.06)";
    ``changed`` is False when replicas == current. ``metrics`` maps each metric
    used to (value per node or app-wide, target or threshold) for display."""

    replicas: int
    current: int
    reason: str
    metrics: dict[str, tuple[float | None, float]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.replicas != self.current


def decide(policy: Policy, state: State, sample: Sample, current: int,
           now: float) -> tuple[Decision, State]:
    """The replica count ``policy`` wants for an app that has ``current``
    desired replicas, given ``sample``; and the state to remember."""
    raise NotImplementedError
