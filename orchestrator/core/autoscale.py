"""Autoscaling decisions: pure functions from a policy, a metric sample and
the remembered state to a replica count and the reason for it.

Nothing here reads a clock, etcd, HAProxy or Docker: the autoscaler
(control/autoscaler.py) samples the metrics (control/sampler.py), calls
:func:`decide` every decision interval with ``now``, applies the answer
through the service layer, records the decision as an event and stores the
returned :class:`State` in etcd, so a restarted manager resumes with its
stabilization windows and cooldowns intact.

Two policy kinds:

* **targets** (Kubernetes' HPA): for each metric with a target,
  ``desired = ceil(serving × value / target)``; a ratio within the tolerance
  of 1 changes nothing; the biggest ask across targets wins; scale-up is
  rate-limited (at most +100 % or +4 nodes, whichever is more, per 10 s);
  scale-down takes the highest recommendation of the stabilization window
  (300 s by default), so a short dip never removes nodes.
* **rules** (the PES project): "metric comparator threshold for N seconds →
  step nodes, then cool down for M seconds".

Metrics are per serving node (rps, inflight, cpu) or app-wide (p95_ms).
Nodes still starting get no traffic: they are never counted as idle, and no
scale-down happens while any node is starting.

Choices where HPA and Nomad leave room (each one in its function's docstring):

* a ratio above 1 never asks for fewer nodes than ``current`` and a ratio below
  1 never for more (``serving`` may lag ``current`` either way);
* recommendations and the scale-up base are remembered per decision call,
  replica counts as the ``current`` seen at each call; a stabilization window
  with no recommendation (first sight, or a gap longer than the window) starts
  with ``current``, as HPA seeds it, so nothing scales down for one window;
* rule conditions keep being timed during a cooldown, so a condition that
  held all through it acts as soon as the cooldown ends;
* when several rules fire at once, the one asking for the most nodes wins
  (any scale-up beats any scale-down; among scale-downs the gentlest);
* idleness needs evidence: an unknown request count or a node still starting
  resets ``idle_since``;
* min 0 without ``idle_to_zero_s`` never goes below 1 node while the app has
  one; an app at 0 is woken by the request path, and decide only follows
  (0 → max(min, 1)) when the sample shows requests.

Capacity (a full pod) is not decided here: the loop caps the answer and says so.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, replace

METRICS = ("rps", "inflight", "cpu", "p95_ms")
"""rps: requests/s per serving node; inflight: requests in progress or queued
per serving node; cpu: % of a node's own CPU limit (100 = the whole limit);
p95_ms: the app's 95th percentile response time over the sampling window."""

COMPARATORS = (">", ">=", "<", "<=")
_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}

SCALE_UP_PERIOD_S = 10.0     # HPA's default scale-up policy is +100 % or +4 nodes per 15 s, its
#                              sync period; our decisions run every 5 s on 2 s old figures, so
#                              the same steps come every 10 s (two decisions), see decisions.md
SCALE_UP_MAX_PERCENT = 100
SCALE_UP_MAX_NODES = 4
SCALE_DOWN_PERIOD_S = 15.0   # HPA's default scale-down policy: -100 % per 15 s, i.e. no
SCALE_DOWN_MAX_PERCENT = 100  # limit beyond the stabilization window

Timed = tuple[tuple[float, int], ...]
"""(time, replicas) pairs, oldest first."""

_UNITS = {"rps": ("{} req/s per node", ""), "inflight": ("{} in flight per node", ""),
          "cpu": ("{}% CPU per node", "%"), "p95_ms": ("p95 {:.0f} ms", " ms")}


@dataclass(frozen=True)
class ScaleRule:
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
class ScalePolicy:
    """One app's autoscale policy (kept on the app record in etcd).

    ``targets`` maps metric name → target value per node (p95_ms: app-wide);
    ``rules`` non-empty makes it a rules policy (targets are then ignored).
    ``idle_to_zero_s``: scale to zero after this long without a request
    (only if ``min`` is 0); the first request afterwards wakes the app."""

    min: int
    max: int
    targets: dict[str, float] = field(default_factory=dict)
    rules: tuple[ScaleRule, ...] = ()
    idle_to_zero_s: float | None = None
    scale_down_window_s: float = 300.0
    scale_up_window_s: float = 0.0
    tolerance: float = 0.1

    @property
    def kind(self) -> str:
        return "rules" if self.rules else "targets"

    @classmethod
    def from_dict(cls, data: dict) -> ScalePolicy:
        """The ScalePolicy of a stored policy (the API's JSON form, already validated)."""
        return cls(min=int(data["min"]), max=int(data["max"]),
                   targets={m: float(data[m]) for m in METRICS if data.get(m) is not None},
                   rules=tuple(ScaleRule(**rule) for rule in data.get("rules", ())),
                   idle_to_zero_s=data.get("idle_to_zero_s"),
                   scale_down_window_s=float(data.get("scale_down_window_s", 300.0)))


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
        """JSON-safe: lists of [time, replicas]; rule indexes as string keys."""
        return {"recommendations": [[float(t), int(n)] for t, n in self.recommendations],
                "replicas_history": [[float(t), int(n)] for t, n in self.replicas_history],
                "rule_since": {str(i): float(t) for i, t in self.rule_since.items()},
                "cooldown_until": float(self.cooldown_until),
                "idle_since": None if self.idle_since is None else float(self.idle_since)}

    @classmethod
    def from_dict(cls, data: dict) -> State:
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


def _time(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"autoscale state: {what} must be a finite number, not {value!r}")
    return float(value)


def _index(key) -> int:
    digits = isinstance(key, str) and key.isascii() and key.isdigit()
    if isinstance(key, bool) or not (digits or (isinstance(key, int) and key >= 0)):
        raise ValueError(f"autoscale state: rule index {key!r} is not a number")
    return int(key)


def _pairs(value, what: str) -> tuple[tuple[float, int], ...]:
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


def clamp_manual(policy: ScalePolicy, replicas: int, app: str = "") -> tuple[int, str]:
    """A manual ``cloud app scale`` of an autoscaled app, clamped to [min, max],
    and the message saying so ("" when ``replicas`` was within)."""
    clamped = min(max(replicas, policy.min), policy.max)
    if clamped == replicas:
        return replicas, ""
    who = f"app {app} is autoscaled" if app else "autoscaled"
    return clamped, f"{who} within [{policy.min}, {policy.max}]: {replicas} clamped to {clamped}"


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


def _target(metric: str, target: float) -> str:
    return f"{target:g}{_UNITS[metric][1]}"


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
        value, target = describe(self.metric, self.value), _target(self.metric, self.target)
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


def biggest_ask(policy: ScalePolicy, sample: Sample, current: int) -> Ask | None:
    """The biggest ask across the targets whose value is known (ties: the larger
    ratio); None when no metric is usable."""
    asks = [target_ask(metric, value, target, sample.serving, current, policy.tolerance)
            for metric, target in policy.targets.items()
            if target > 0 and (value := per_node(metric, sample)) is not None]
    return max(asks, key=lambda ask: (ask.replicas, ask.ratio), default=None)


def stabilize(policy: ScalePolicy, recommendations: Timed, wanted: int, current: int,
              now: float) -> tuple[int, int, int]:
    """HPA's stabilization windows over the earlier ``recommendations`` and
    ``wanted``: scale up only to the lowest recommendation of the last
    scale_up_window_s, down only to the highest of the last scale_down_window_s
    (a short dip removes no node). Returns (stabilized, lowest, highest)."""
    lowest = min([n for t, n in recommendations if t > now - policy.scale_up_window_s] + [wanted])
    highest = max([n for t, n in recommendations if t > now - policy.scale_down_window_s] + [wanted])
    return min(max(current, lowest), highest), lowest, highest


def rate_limits(history: Timed, current: int, now: float) -> tuple[int, int, int]:
    """HPA's default rate limits from ``base``, the replica count at the start
    of the period: the oldest one of ``history`` in the last period (for
    scale-up the lower of it and ``current``, so a scale-down in the period
    buys no extra scale-up; for scale-down the higher), or ``current``. Up to
    max(base + 100 %, base + 4); down to base − 100 %, i.e. no limit beyond
    the stabilization window. Returns (most, least, scale-up base)."""
    def start(period: float, pick) -> int:
        counts = [n for t, n in sorted(history) if t > now - period]
        return pick(counts[0], current) if counts else current
    up, down = start(SCALE_UP_PERIOD_S, min), start(SCALE_DOWN_PERIOD_S, max)
    most = max(up + up * SCALE_UP_MAX_PERCENT // 100, up + SCALE_UP_MAX_NODES)
    return most, down - down * SCALE_DOWN_MAX_PERCENT // 100, up


def bounds(policy: ScalePolicy, current: int) -> tuple[int, int]:
    """[min, max], where min 0 reads as 1 while the app has a node: only
    :func:`idle_long_enough` takes an app to 0."""
    low = policy.min if current == 0 else max(policy.min, 1)
    return min(low, policy.max), policy.max


def _finish(policy: ScalePolicy, current: int, wanted: int, why: str, metrics: dict) -> Decision:
    """Clamp ``wanted`` to :func:`bounds`, saying so, and word the decision."""
    low, high = bounds(policy, current)
    replicas = min(max(wanted, low), high)
    if replicas > wanted:
        why += f"; wanted {wanted}, min {low}" if low == policy.min else f"; wanted {wanted}, at least 1 node"
    elif replicas < wanted:
        why += f"; wanted {wanted}, max {high}"
    head = f"{current} → {replicas}" if replicas != current else "hold"
    return Decision(replicas, current, f"{head}: {why}", metrics)


def track_idle(idle_since: float | None, sample: Sample, current: int, now: float) -> float | None:
    """Since when the app has been idle: it has nodes, none starting (a starting
    node may have requests queued for it) and known to have had no request. An
    unknown count (None) or a single request starts over."""
    if current == 0 or sample.starting > 0 or sample.requests != 0:
        return None
    return now if idle_since is None else idle_since


def idle_long_enough(policy: ScalePolicy, idle_since: float | None, now: float) -> bool:
    """Scale to zero: only with min 0 and idle_to_zero_s, after that long idle."""
    return (policy.min == 0 and policy.idle_to_zero_s is not None and idle_since is not None
            and now - idle_since >= policy.idle_to_zero_s)


def wake(policy: ScalePolicy, sample: Sample, metrics: dict) -> Decision:
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


def decide_targets(policy: ScalePolicy, state: State, sample: Sample, current: int, now: float,
                   metrics: dict) -> tuple[Decision, State]:
    """HPA: the biggest ask (never down while nodes start), stabilized,
    rate-limited, clamped; the ask joins the recommendations. A window with no
    recommendation (a new policy, a manager down longer than the window)
    starts with ``current``, as HPA seeds it: no scale-down for one window."""
    ask = biggest_ask(policy, sample, current)
    if ask is None:
        return _finish(policy, current, current, "no metrics yet", metrics), state
    wanted, why = ask.replicas, ask.words(policy.tolerance)
    earlier = state.recommendations or ((now, current),)   # first sight: hold a window, as HPA
    if wanted < current and sample.starting > 0:
        wanted, why = current, f"{sample.starting} node(s) still starting; {why}"
    elif wanted == current and not ask.within and sample.serving != current:
        why += f"; {current} desired, {sample.serving} serving, {sample.starting} starting"
    elif wanted == current and not ask.within:
        why += f"; {sample.serving} × {ask.ratio:.2f} rounds up to {current}"
    stabilized, lowest, highest = stabilize(policy, earlier, wanted, current, now)
    if wanted < current:
        why += f", highest in the last {policy.scale_down_window_s:g} s: {highest}"
    elif wanted > current and policy.scale_up_window_s > 0:
        why += f", lowest in the last {policy.scale_up_window_s:g} s: {lowest}"
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
    return _finish(policy, current, replicas, why, metrics), replace(state, recommendations=recommendations)


def rule_label(rule: ScaleRule) -> str:
    return f"{rule.metric} {rule.comparator} {rule.threshold:g} for {rule.for_s:g} s"


def track_rules(policy: ScalePolicy, sample: Sample, since: dict[int, float], now: float) -> dict[int, float]:
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


def fired_rules(policy: ScalePolicy, since: dict[int, float], now: float) -> list[int]:
    """The rules held for their for_s, the winner first: the one asking for the
    most nodes (any scale-up beats any scale-down, and among scale-downs the
    gentlest wins, as the biggest ask wins among targets); ties: the first rule."""
    fired = [i for i, t in since.items() if now - t >= policy.rules[i].for_s]
    return sorted(fired, key=lambda i: (-policy.rules[i].step, i))


def decide_rules(policy: ScalePolicy, state: State, sample: Sample, current: int, now: float,
                 metrics: dict) -> tuple[Decision, State]:
    """PES-style rules. No rule acts before cooldown_until; when the winning
    rule acts, every rule that had fired starts its timer over and all rules
    cool down for the winner's cooldown_s; conditions keep being timed during
    the cooldown. A rule that would change nothing
    (clamped, or a scale-down while nodes start) neither acts nor loses its
    timer. No stabilization window or rate limit applies."""
    if all(per_node(rule.metric, sample) is None for rule in policy.rules):
        return _finish(policy, current, current, "no metrics yet", metrics), state
    if now < state.cooldown_until:
        why = f"cooling down, {math.ceil(state.cooldown_until - now)} s left"
        return _finish(policy, current, current, why, metrics), state
    fired = fired_rules(policy, state.rule_since, now)
    if not fired:
        return _finish(policy, current, current, _waiting(policy, state.rule_since, now), metrics), state
    rule = policy.rules[fired[0]]
    low, high = bounds(policy, current)
    replicas = min(max(current + rule.step, low), high)
    if rule.step < 0 and sample.starting > 0:
        why = f"{sample.starting} node(s) still starting; rule '{rule_label(rule)}' wants {rule.step:+d}"
        return _finish(policy, current, current, why, metrics), state
    if replicas == current:
        why = f"rule '{rule_label(rule)}' fired ({rule.step:+d})"
        return _finish(policy, current, current + rule.step, why, metrics), state
    step = f"{rule.step:+d}" + ("" if replicas == current + rule.step
                                else f", {'max' if replicas == high else 'min'} {replicas}")
    why = (f"rule '{rule_label(rule)}' fired: {current} → {replicas} ({step}); cooling down "
           f"{rule.cooldown_s:g} s; {describe(rule.metric, per_node(rule.metric, sample))}")
    since = {i: t for i, t in state.rule_since.items() if i not in fired}
    new = replace(state, rule_since=since, cooldown_until=now + rule.cooldown_s)
    return Decision(replicas, current, why, metrics), new


def _waiting(policy: ScalePolicy, since: dict[int, float], now: float) -> str:
    """Which rule is closest to firing, in words."""
    if not since:
        return "no rule's condition holds"
    i = max(since, key=lambda i: (now - since[i]) / max(policy.rules[i].for_s, 1e-9))
    rule = policy.rules[i]
    return f"rule '{rule_label(rule)}' has held {now - since[i]:.0f} s of {rule.for_s:g}"


def _shown_metrics(policy: ScalePolicy, sample: Sample) -> dict[str, tuple[float | None, float]]:
    """Each metric the policy uses → (its value, target or first threshold)."""
    if policy.kind == "targets":
        return {m: (per_node(m, sample), t) for m, t in policy.targets.items()}
    shown: dict[str, tuple[float | None, float]] = {}
    for rule in policy.rules:
        shown.setdefault(rule.metric, (per_node(rule.metric, sample), rule.threshold))
    return shown


def decide(policy: ScalePolicy, state: State, sample: Sample, current: int,
           now: float) -> tuple[Decision, State]:
    """The replica count ``policy`` wants for an app that has ``current``
    desired replicas, given ``sample``; and the state to remember.

    In order: an app at 0 is only woken (:func:`wake`); an app idle long
    enough goes to 0; with no node serving it holds; then the policy's kind
    decides (:func:`decide_targets` or :func:`decide_rules`). Every call
    records ``current`` for the rate limit and forgets what is older than the
    longest window."""
    keep = max(policy.scale_down_window_s, policy.scale_up_window_s)
    period = max(SCALE_UP_PERIOD_S, SCALE_DOWN_PERIOD_S)
    state = replace(
        state,
        recommendations=tuple((t, n) for t, n in state.recommendations if now - keep < t <= now),
        replicas_history=tuple((t, n) for t, n in state.replicas_history if now - period < t <= now)
        + ((now, current),),
        rule_since=track_rules(policy, sample, state.rule_since, now),
        idle_since=track_idle(state.idle_since, sample, current, now))
    metrics = _shown_metrics(policy, sample)
    if current == 0:
        return wake(policy, sample, metrics), state
    if idle_long_enough(policy, state.idle_since, now):
        return Decision(0, current, f"idle for {now - state.idle_since:.0f} s: {current} → 0", metrics), state
    if sample.serving <= 0:
        why = f"{sample.starting} node(s) still starting" if sample.starting > 0 else "no node serving"
        return _finish(policy, current, current, why, metrics), state
    if policy.kind == "rules":
        return decide_rules(policy, state, sample, current, now, metrics)
    return decide_targets(policy, state, sample, current, now, metrics)
