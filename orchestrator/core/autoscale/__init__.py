"""Autoscaling decisions: pure functions from a policy, a metric sample and
the remembered state to a replica count and the reason for it.

Nothing here reads a clock, etcd, HAProxy or Docker: the autoscaler
(control/autoscaler.py) samples the figures (control/sampler.py), calls
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

The policy is ``core.schema.Autoscale``, the very model the API parsed it
with and the store keeps (its ``targets`` and ``kind``); the modules here:

* ``state.py``: ``Sample`` (what the sampler saw), ``State`` (what is
  remembered between decisions), ``Decision`` (the answer);
* ``figures.py``: metrics per node and in words;
* ``bounds.py``: [min, max], the decision's wording, a manual scale clamped,
  a policy in words;
* ``targets.py``: HPA targets (ratio, tolerance, windows, rate limits);
* ``rules.py``: PES rules (condition held for N s, step, cooldown);
* ``decide.py``: ``decide``, which calls the two above after idleness and waking.
"""
from __future__ import annotations

from orchestrator.core.autoscale.bounds import bounds, clamp_manual, summary
from orchestrator.core.autoscale.decide import (
                                                 decide,
                                                 idle_long_enough,
                                                 track_idle,
                                                 wake,
)
from orchestrator.core.autoscale.figures import describe, per_node
from orchestrator.core.autoscale.rules import decide_rules, fired_rules, track_rules
from orchestrator.core.autoscale.state import Decision, Sample, State, compacted, news, runs
from orchestrator.core.autoscale.targets import (
                                                 SCALE_DOWN_MAX_PERCENT,
                                                 SCALE_DOWN_PERIOD_S,
                                                 SCALE_UP_MAX_NODES,
                                                 SCALE_UP_MAX_PERCENT,
                                                 SCALE_UP_PERIOD_S,
                                                 SCALE_UP_WINDOW_S,
                                                 TOLERANCE,
                                                 biggest_ask,
                                                 decide_targets,
                                                 rate_limits,
                                                 stabilize,
                                                 target_ask,
)
from orchestrator.core.schema import COMPARATORS, METRICS

__all__ = ["COMPARATORS", "METRICS", "SCALE_DOWN_MAX_PERCENT", "SCALE_DOWN_PERIOD_S", "SCALE_UP_MAX_NODES",
           "SCALE_UP_MAX_PERCENT", "SCALE_UP_PERIOD_S", "SCALE_UP_WINDOW_S", "TOLERANCE", "Decision", "Sample",
           "State", "biggest_ask", "bounds", "clamp_manual", "compacted", "decide", "decide_rules",
           "decide_targets", "describe", "fired_rules", "idle_long_enough", "news", "per_node", "rate_limits", "runs",
           "stabilize", "summary", "target_ask", "track_idle", "track_rules", "wake"]
