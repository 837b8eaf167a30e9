"""Targets, as Kubernetes' HPA does them: a ratio with tolerance, the biggest
ask across targets, stabilization windows and scale-up rate limits."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from orchestrator.core.autoscale.bounds import bounds, finish
from orchestrator.core.autoscale.figures import describe, per_node, target_text
from orchestrator.core.autoscale.state import Decision, Sample, State, Timed
from orchestrator.core.haproxy_config import NODE_MAXCONN
from orchestrator.core.schema import Autoscale

SCALE_UP_PERIOD_S = 10.0     # HPA's default scale-up policy is +100 % or +4 nodes per 15 s, its
#                              sync period; our decisions run every 5 s on 2 s old figures, so
#                              the same steps come every 10 s (two decisions), see decisions.md
SCALE_UP_MAX_PERCENT = 100
SCALE_UP_MAX_NODES = 4
SCALE_DOWN_PERIOD_S = 15.0   # HPA's default scale-down policy: -100 % per 15 s, i.e. no
SCALE_DOWN_MAX_PERCENT = 100  # limit beyond the stabilization window
TOLERANCE = 0.1             # HPA's: a ratio within 10 % of 1 changes nothing
SCALE_UP_WINDOW_S = 0.0     # HPA's default: scale up at once (no scale-up stabilization)


@dataclass(frozen=True)
class Ask:
    """What one target asks for: ``replicas`` for ``value`` against ``target``."""

    metric: str
    value: float
    target: float
    replicas: int
    within: bool        # the ratio is within the tolerance of 1

    @property
    def ratio(self) -> float:
        return self.value / self.target

    def words(self, tolerance: float) -> str:
        value, target = describe(self.metric, self.value), target_text(self.metric, self.target)
        if self.within:
            return f"{value} is within {tolerance * 100:g}% of target {target}"
        return f"{value} {'>' if self.ratio > 1 else '<'} target {target} (×{self.ratio:.2f})"


def target_ask(metric: str, value: float, target: float, serving: int, current: int,
               tolerance: float) -> Ask:
    """HPA's ratio with tolerance: within ``tolerance`` of 1 a metric asks for
    ``current``, otherwise for ceil(serving × value / target), on serving nodes
    only. A ratio above 1 never asks for fewer than ``current`` and one below 1
    never for more: ``serving`` lags ``current`` while nodes start or drain."""
    ratio = value / target
    if abs(ratio - 1) <= tolerance:
        return Ask(metric, value, target, current, True)
    wanted = math.ceil(serving * ratio - 1e-9)       # 1e-9: 3 × 2.0 must not round up to 7
    return Ask(metric, value, target, max(wanted, current) if ratio > 1 else min(wanted, current), False)


def biggest_ask(policy: Autoscale, sample: Sample, current: int) -> Ask | None:
    """The biggest ask across the targets whose value is known (ties: the larger
    ratio); None when no metric is usable."""
    asks = [target_ask(metric, value, target, sample.serving, current, TOLERANCE)
            for metric, target in policy.targets.items()
            if target > 0 and (value := per_node(metric, sample)) is not None]
    return max(asks, key=lambda ask: (ask.replicas, ask.ratio), default=None)


def short_of_nodes(sample: Sample) -> str | None:
    """Why a saturated app is short of nodes, or None. Its queue is not empty,
    no node is starting that could take it, and the queue either grew over
    the interval or never emptied and lost less than half of what it held
    (clients that wait for their answers before they send more keep a queue
    standing, not growing; a queue that halves in an interval drains soon).
    It never reads as satisfied, whatever its per-node figures say (a target
    above one node's capacity, an undersized target, arrivals held back by
    the clients' own waiting)."""
    queued, growth, least = sample.queued, sample.queue_growth, sample.queue_least or 0
    if queued is None or growth is None or queued <= 0 or sample.starting:
        return None
    if growth > 0:
        return f"the queue grew by {growth} to {queued}"
    if least > 0 and -growth < queued:
        return f"requests waited for a node all the time (the queue at least {least}, now {queued})"
    return None


def nodes_busy(sample: Sample) -> int:
    """The nodes the requests in flight (answered or queued, a mean over the
    interval) keep busy, each taking NODE_MAXCONN at once: fewer would queue
    them. A scale-down never goes below it, so that clients that wait for
    their answers (whose arrivals follow the answers, below a target) do not
    get a scale-down that makes the queue the next decision scales up for."""
    return math.ceil(sample.inflight / NODE_MAXCONN - 1e-9) if sample.inflight else 0


def stabilize(policy: Autoscale, recommendations: Timed, wanted: int, current: int,
              now: float) -> tuple[int, int, int]:
    """HPA's stabilization windows over the earlier ``recommendations`` and
    ``wanted``: scale up only to the lowest recommendation of the last
    scale_up_window_s, down only to the highest of the last scale_down_window_s
    (a short dip removes no node). Returns (stabilized, lowest, highest)."""
    lowest = min([n for t, n in recommendations if t > now - SCALE_UP_WINDOW_S] + [wanted])
    highest = max([n for t, n in recommendations if t > now - policy.scale_down_window_s] + [wanted])
    return min(max(current, lowest), highest), lowest, highest


def rate_limits(history: Timed, current: int, now: float) -> tuple[int, int, int]:
    """HPA's default rate limits from ``base``, the replica count at the start
    of the period: the oldest one of ``history`` in the last period (for
    scale-up the lower of it and ``current``, so a scale-down in the period
    buys no extra scale-up; for scale-down the higher), or ``current``. Up to
    max(base + 100 %, base + 4); down to base − 100 %, i.e. no limit beyond
    the stabilization window. Returns (most, least, scale-up base)."""
    def start(period: float, pick: Callable[[int, int], int]) -> int:
        counts = [n for t, n in sorted(history) if t > now - period]
        return pick(counts[0], current) if counts else current
    up, down = start(SCALE_UP_PERIOD_S, min), start(SCALE_DOWN_PERIOD_S, max)
    most = max(up + up * SCALE_UP_MAX_PERCENT // 100, up + SCALE_UP_MAX_NODES)
    return most, down - down * SCALE_DOWN_MAX_PERCENT // 100, up



def decide_targets(policy: Autoscale, state: State, sample: Sample, current: int, now: float,
                   metrics: dict[str, Any]) -> tuple[Decision, State]:
    """HPA: the biggest ask (never down while nodes start), stabilized,
    rate-limited, clamped; the ask joins the recommendations. A window with no
    recommendation (a new policy, a manager down longer than the window)
    starts with ``current``, as HPA seeds it: no scale-down for one window."""
    ask = biggest_ask(policy, sample, current)
    if ask is None:
        return finish(policy, current, current, "no metrics yet", metrics), state
    wanted, why = ask.replicas, ask.words(TOLERANCE)
    earlier = state.recommendations or ((now, current),)   # first sight: hold a window, as HPA
    if (short := short_of_nodes(sample)) and wanted <= current:
        wanted, why = current + 1, f"{short}: short of nodes, whatever the figures say ({why})"
    elif wanted < current and sample.starting > 0:
        wanted, why = current, f"{sample.starting} node(s) still starting; {why}"
    elif wanted < current and (busy := nodes_busy(sample)) > wanted:
        wanted, why = min(current, busy), (f"{why}; but {sample.inflight:.0f} requests at once need {busy} "
                                           f"node(s) of {NODE_MAXCONN}")
    elif wanted == current and not ask.within and sample.serving != current:
        why += f"; {current} desired, {sample.serving} serving, {sample.starting} starting"
    elif wanted == current and not ask.within:
        why += f"; {sample.serving} × {ask.ratio:.2f} rounds up to {current}"
    stabilized, lowest, highest = stabilize(policy, earlier, wanted, current, now)
    if wanted < current:
        why += f", highest in the last {policy.scale_down_window_s:g} s: {highest}"
    elif wanted > current and SCALE_UP_WINDOW_S > 0:
        why += f", lowest in the last {SCALE_UP_WINDOW_S:g} s: {lowest}"
    low, high = bounds(policy, current)
    most, least, base = rate_limits(state.replicas_history, current, now)
    capped = min(stabilized, high)
    replicas = capped
    if capped > current:
        replicas = max(current, min(capped, max(most, low)))
    elif capped < current:
        replicas = min(current, max(capped, least))
    notes = [f"max {high}"] if stabilized > high else []
    if replicas != capped:
        notes.append(f"limited to {replicas} (+{SCALE_UP_MAX_PERCENT}% or +{SCALE_UP_MAX_NODES} "
                     f"per {SCALE_UP_PERIOD_S:g} s from {base})")
    if notes:
        why += f"; wanted {stabilized}, " + ", ".join(notes)
    recommendations = earlier + ((now, wanted),)
    return finish(policy, current, replicas, why, metrics), replace(state, recommendations=recommendations)

