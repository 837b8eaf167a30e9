"""What the decision reads and remembers: the sample, the state, the answer."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Timed = tuple[tuple[float, int], ...]
"""(time, replicas) pairs, oldest first."""


@dataclass(frozen=True)
class Sample:
    """What the metrics sampler saw of one app, averaged over the decision interval.

    ``serving``: nodes passing health checks (the ones getting traffic);
    ``starting``: nodes desired but not serving yet. Any metric may be None
    (unknown: no data yet, HAProxy or a host unreachable); a None metric is
    skipped, never read as 0. ``requests`` counts the requests that *arrived*
    in the interval (0 means idle, for scale-to-zero), and ``rps`` is their
    rate: the demand, not what was answered, so a saturated app whose queue
    grows reads as busy as it is. ``queue_growth``: how much the backend's
    queue grew over the interval (newest minus oldest reading), ``queued``:
    its length in the newest, ``queue_least``: its shortest in the interval
    (above 0: requests waited for a node all the time)."""

    time: float
    serving: int
    starting: int
    requests: int | None
    rps: float | None          # whole app, requests/s arriving (per node = rps / serving)
    inflight: float | None     # whole app: in progress + queued
    cpu: float | None          # mean % of the node limit over serving nodes
    p95_ms: float | None       # app-wide
    queued: int | None = None
    queue_growth: int | None = None
    queue_least: int | None = None


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: lists of [time, replicas]; rule indexes as string keys."""
        return {"recommendations": [[float(t), int(n)] for t, n in self.recommendations],
                "replicas_history": [[float(t), int(n)] for t, n in self.replicas_history],
                "rule_since": {str(i): float(t) for i, t in self.rule_since.items()},
                "cooldown_until": float(self.cooldown_until),
                "idle_since": None if self.idle_since is None else float(self.idle_since)}

    @classmethod
    def from_dict(cls, data: Any) -> State:
        """The state stored by :meth:`to_dict`. Missing (or null) keys take their
        defaults and unknown keys are ignored (another version wrote them);
        anything else malformed raises ValueError."""
        if not isinstance(data, dict):
            raise ValueError(f"autoscale state must be an object, not {type(data).__name__}")
        get = data.get
        since = {} if get("rule_since") is None else get("rule_since")
        if not isinstance(since, dict):
            raise ValueError("autoscale state: rule_since must be an object")
        idle, cooldown = get("idle_since"), get("cooldown_until")
        return cls(recommendations=_pairs(get("recommendations"), "recommendations"),
                   replicas_history=_pairs(get("replicas_history"), "replicas_history"),
                   rule_since={_index(k): _time(v, "rule_since") for k, v in since.items()},
                   cooldown_until=_time(0.0 if cooldown is None else cooldown, "cooldown_until"),
                   idle_since=None if idle is None else _time(idle, "idle_since"))


def runs(pairs: Timed) -> Timed:
    """``pairs`` with only the first and the last of each run of equal counts:
    the same answers for every question the decision asks of a window (the
    highest or lowest count since a time, the oldest count since a time), in
    a few pairs whatever the number of decisions (a steady app: two)."""
    out: list[tuple[float, int]] = []
    for i, (t, n) in enumerate(pairs):
        first = i == 0 or pairs[i - 1][1] != n
        last = i == len(pairs) - 1 or pairs[i + 1][1] != n
        if first or last:
            out.append((t, n))
    return tuple(out)


def compacted(state: State) -> State:
    """``state`` with its windows reduced to their runs (:func:`runs`)."""
    return State(runs(state.recommendations), runs(state.replicas_history), dict(state.rule_since),
                 state.cooldown_until, state.idle_since)


def news(state: State, replicas: int, current: int) -> tuple[Any, ...]:
    """What a memory says beyond the passing of time: the counts of each
    window's runs (not their times), the rules' and idleness' clocks, the
    decision. Two memories with the same ``news`` differ only by how recently
    the same counts were seen: the autoscaler then need not write the newer."""
    return (tuple(n for _, n in runs(state.recommendations)), tuple(n for _, n in runs(state.replicas_history)),
            tuple(sorted(state.rule_since.items())), state.cooldown_until, state.idle_since, replicas, current)


def _time(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"autoscale state: {what} must be a finite number, not {value!r}")
    return float(value)


def _index(key: Any) -> int:
    digits = isinstance(key, str) and key.isascii() and key.isdigit()
    if isinstance(key, bool) or not (digits or (isinstance(key, int) and key >= 0)):
        raise ValueError(f"autoscale state: rule index {key!r} is not a number")
    return int(key)


def _pairs(value: Any, what: str) -> Timed:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"autoscale state: {what} must be a list of [time, replicas]")
    out = []
    for item in value:
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or isinstance(item[1], bool)
                or not isinstance(item[1], int) or item[1] < 0):
            raise ValueError(f"autoscale state: {what} holds {item!r}, not [time, replicas]")
        out.append((_time(item[0], what), item[1]))
    return tuple(out)


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
