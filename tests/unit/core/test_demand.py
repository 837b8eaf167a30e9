"""Demand, not throughput (issue 23): the autoscaler reads the requests that
*arrive* at a backend, so a saturated app is never read as satisfied.

The traces model one HAProxy backend in front of nodes that each answer at
most ``CAPACITY`` req/s (a light node: about 18) and are sent at most
``NODE_MAXCONN`` requests at once: requests arrive at the offered rate
(``stot``), are answered at most at the nodes' capacity (``req_tot``), and
what the nodes are not sent waits in the queue (``qcur``, counted in
``scur``). Or the requests come from clients that each wait for their
answer before they send the next (a closed loop): then they arrive only as
fast as they are answered. The readings go through the sampler's arithmetic
(``readings.summarize``) into the decision (``autoscale.decide``), every
5 s, as the autoscaler runs them.
"""
from __future__ import annotations

import math

from orchestrator.core.autoscale import State, decide
from orchestrator.core.autoscale.state import Sample
from orchestrator.core.haproxy_config import NODE_MAXCONN
from orchestrator.core.haproxy_stats import BackendStats
from orchestrator.core.readings import Reading, summarize
from tests.unit.core.test_autoscale import make_policy

CAPACITY = 18.0      # req/s one node answers
EVERY = 5.0          # the decision interval
SAMPLE = 1.0         # the sampler's interval
STARTUP = 5.0        # a new node serves this long after it is asked for


class Backend:
    """A backend's counters under a load, one reading per SAMPLE: ``offered``
    req/s (an open loop) or ``clients`` each waiting for its answer."""

    def __init__(self, clients: int = 0):
        self.arrived = self.answered = 0.0
        self.waiting = 0.0                  # arrived, not answered: sent to a node or queued
        self.clients = clients

    def advance(self, offered: float, serving: int, seconds: float) -> None:
        self.arrive(offered * seconds)
        answered = min(CAPACITY * serving * seconds, self.waiting)
        self.answered += answered
        self.waiting -= answered
        if self.clients:                    # each answer's client sends its next at once
            self.arrive(self.clients - self.waiting)

    def arrive(self, requests: float) -> None:
        self.arrived += requests
        self.waiting += requests

    def stats(self, serving: int) -> BackendStats:
        in_service = min(self.waiting, NODE_MAXCONN * serving)
        return BackendStats(req_tot=int(self.answered), scur=int(self.waiting), qcur=int(self.waiting - in_service),
                            up=tuple(f"n{i}.0123456789" for i in range(serving)), stot=int(self.arrived))


def run(policy, offered=lambda t: 0.0, *, seconds: float, current: int = 1, clients: int = 0):
    """Decisions every EVERY s for ``seconds`` under ``offered(t)`` req/s
    (or ``clients`` in a closed loop); returns [(t, replicas, reason)]."""
    backend, state, readings = Backend(clients), State(), []
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
    after the step; as 5 × 18 < 100 the queue still grows, and the backlog of
    the first seconds drains slowly at 6 nodes (108 req/s): one node more per
    decision while it stands, then it holds."""
    policy = make_policy(min=1, max=10, targets={"rps": 20})
    trace = run(policy, lambda t: 20.0 if t <= 30 else 100.0, seconds=120.0)
    before = [n for t, n, _ in trace if t <= 30]
    after = [(t, n) for t, n, _ in trace if t > 30]
    assert max(before) == 2                                 # 20 req/s > 18: the queue grows, a second node
    assert after[0] == (35.0, 5)                            # the first decision after the step: 100 / 20
    assert max(n for _, n in after) >= math.ceil(100 / CAPACITY)
    assert [n for _, n in after][-10:] == [after[-1][1]] * 10  # and then it holds: the queue drained


def test_clients_that_wait_for_their_answers_keep_a_queue_standing_until_there_are_nodes_enough():
    """48 clients, each sending its next request when its answer came (the
    lab tests' load generator once its threads are busy): requests arrive
    only as fast as they are answered (18 per node), below the target, so the
    rate says 'satisfied' at one node. The queue (48 − NODE_MAXCONN per node)
    never empties: one node more per decision until the nodes take all 48 at
    once. Then the rate still says 'too many' (18 of 27 per node), but a
    scale-down would queue them again: it holds, even with a short window."""
    clients = 48
    enough = math.ceil(clients / NODE_MAXCONN)
    policy = make_policy(min=1, max=enough + 2, targets={"rps": 27}, scale_down_window_s=15)
    trace = run(policy, clients=clients, seconds=150.0)
    assert [n for _, n, _ in trace][-6:] == [enough] * 6, trace
    assert all("requests waited for a node all the time" in reason for _, n, reason in trace if "→" in reason)
    assert f"but {clients} requests at once need {enough} node(s) of {NODE_MAXCONN}" in trace[-1][2]


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
    standing = Sample(time=10.0, serving=2, starting=0, requests=200, rps=40.0, inflight=30.0, cpu=80.0,
                      p95_ms=None, queued=28, queue_growth=-5, queue_least=20)   # never empty, lost 5 of 33
    decision, _ = decide(policy, State(), standing, 2, 10.0)
    assert decision.replicas == 3 and "requests waited for a node all the time (the queue at least 20, now 28)" \
        in decision.reason
    halving = Sample(time=10.0, serving=2, starting=0, requests=200, rps=40.0, inflight=30.0, cpu=80.0,
                     p95_ms=None, queued=28, queue_growth=-30, queue_least=28)  # 58 → 28: it drains soon
    assert decide(policy, State(), halving, 2, 10.0)[0].replicas == 2
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
