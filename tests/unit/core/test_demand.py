"""Demand, not throughput (issue 23): the autoscaler reads the requests that
*arrive* at a backend, so a saturated app is never read as satisfied.

The traces model one HAProxy backend in front of nodes that each answer at
most ``CAPACITY`` req/s (a light node: about 18): requests arrive at the
offered rate (``stot``), are answered at most at the nodes' capacity
(``req_tot``) and the rest wait in the queue (``qcur``, counted in
``scur``). The readings go through the sampler's arithmetic
(``readings.summarize``) into the decision (``autoscale.decide``), every
5 s, as the autoscaler runs them.
"""
from __future__ import annotations

import math

from orchestrator.core.autoscale import State, decide
from orchestrator.core.autoscale.state import Sample
from orchestrator.core.haproxy_stats import BackendStats
from orchestrator.core.readings import Reading, summarize
from tests.unit.core.test_autoscale import make_policy

CAPACITY = 18.0      # req/s one node answers
EVERY = 5.0          # the decision interval
SAMPLE = 1.0         # the sampler's interval
STARTUP = 5.0        # a new node serves this long after it is asked for


class Backend:
    """A backend's counters under an offered load, one reading per SAMPLE."""

    def __init__(self):
        self.arrived = self.answered = 0.0
        self.queue = 0.0

    def advance(self, offered: float, serving: int, seconds: float) -> None:
        self.arrived += offered * seconds
        can = CAPACITY * serving * seconds
        answered = min(can, self.queue + offered * seconds)
        self.answered += answered
        self.queue = max(0.0, self.queue + offered * seconds - answered)

    def stats(self, serving: int) -> BackendStats:
        queued = int(self.queue)
        in_service = serving if queued else 0                    # a queue means every node is busy
        return BackendStats(req_tot=int(self.answered), scur=queued + in_service, qcur=queued,
                            up=tuple(f"n{i}.0123456789" for i in range(serving)), stot=int(self.arrived))


def run(policy, offered, *, seconds: float, current: int = 1):
    """Decisions every EVERY s for ``seconds`` under ``offered(t)`` req/s;
    returns [(t, replicas, reason)]."""
    backend, state, readings = Backend(), State(), []
    asked_at = {i: -1e9 for i in range(current)}              # node -> when it was asked for
    out, t = [], 0.0
    while t < seconds:
        t += SAMPLE
        serving = sum(1 for at in asked_at.values() if t - at >= STARTUP)
        backend.advance(offered(t), serving, SAMPLE)
        readings.append(Reading(t, {"app_light": backend.stats(serving)}))
        if t % EVERY == 0:
            window = [r for r in readings if t - EVERY <= r.time <= t]
            sample = summarize(window, "app_light", now=t, desired=len(asked_at), p95_ms=None)
            assert sample is not None
            decision, state = decide(policy, state, sample, len(asked_at), t)
            for i in range(len(asked_at), decision.replicas):
                asked_at[i] = t
            for i in range(decision.replicas, len(asked_at)):
                asked_at.pop(i)
            out.append((t, decision.replicas, decision.reason))
    return out


def test_a_step_above_one_nodes_capacity_scales_to_the_demand():
    """20 → 100 req/s with a target of 20 req/s per node (above what a node
    answers): the answered rate per node stays ~18, inside the tolerance, so
    an autoscaler reading it would hold at one node while the queue grows.
    Reading arrivals, it goes to 100 / 20 = 5 nodes at the first decision
    after the step; as 5 × 18 < 100 the queue still grows, so one or two more
    (100 / 18 needs 6; the last one asked while another was starting)."""
    policy = make_policy(min=1, max=10, targets={"rps": 20})
    trace = run(policy, lambda t: 20.0 if t <= 30 else 100.0, seconds=90.0)
    before = [n for t, n, _ in trace if t <= 30]
    after = [(t, n) for t, n, _ in trace if t > 30]
    assert max(before) == 2                                 # 20 req/s > 18: the queue grows, a second node
    assert after[0] == (35.0, 5)                            # the first decision after the step: 100 / 20
    assert 6 <= max(n for _, n in after) <= math.ceil(100 / CAPACITY) + 1
    assert [n for _, n in after][-6:] == [after[-1][1]] * 6  # and then it holds: the queue drains


def test_a_growing_queue_is_short_of_nodes_whatever_the_figures_say():
    """A policy on CPU only with the CPU at target (the figures say: satisfied)
    while the queue grows: one more node."""
    policy = make_policy(min=1, max=10, targets={"cpu": 80})
    growing = Sample(time=10.0, serving=2, starting=0, requests=200, rps=40.0, inflight=30.0, cpu=80.0,
                     p95_ms=None, queued=28, queue_growth=12)
    decision, _ = decide(policy, State(), growing, 2, 10.0)
    assert decision.replicas == 3 and decision.reason.startswith("2 → 3: the queue grew by 12 to 28: short of nodes")
    draining = Sample(time=10.0, serving=2, starting=0, requests=200, rps=40.0, inflight=30.0, cpu=80.0,
                      p95_ms=None, queued=28, queue_growth=-5)            # a queue that shrinks: enough nodes
    assert decide(policy, State(), draining, 2, 10.0)[0].replicas == 2
    starting = Sample(time=10.0, serving=2, starting=1, requests=200, rps=40.0, inflight=30.0, cpu=80.0,
                      p95_ms=None, queued=28, queue_growth=12)            # a node on its way: wait for it
    assert decide(policy, State(), starting, 3, 10.0)[0].replicas == 3


def test_an_idle_app_has_no_arrivals_even_while_requests_are_answered_late():
    """Idleness (scale to zero) counts arrivals too: requests answered in a
    window where none arrived do not keep an app awake, and one that arrived
    but is still queued does."""
    quiet = [Reading(0.0, {"app_a": BackendStats(req_tot=10, scur=1, qcur=0, stot=11)}),
             Reading(5.0, {"app_a": BackendStats(req_tot=11, scur=0, qcur=0, stot=11)})]
    assert summarize(quiet, "app_a", now=5.0, desired=1, p95_ms=None).requests == 0
    waiting = [Reading(0.0, {"app_a": BackendStats(req_tot=11, scur=0, qcur=0, stot=11)}),
               Reading(5.0, {"app_a": BackendStats(req_tot=11, scur=1, qcur=1, stot=12)})]
    assert summarize(waiting, "app_a", now=5.0, desired=1, p95_ms=None).requests == 1
