"""The autoscaler's memory kept small (issue 19: etcd stays small): windows
reduced to their runs give the very same decisions, and ``news`` tells a
memory that says something new from one that only moved in time."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.core.autoscale import Sample, State, compacted, decide, news, runs
from orchestrator.core.schema import Autoscale, AutoscaleRule

TARGETS = Autoscale(min=1, max=12, rps=20, scale_down_window_s=60)
RULES = Autoscale(min=1, max=12, rules=[
    AutoscaleRule(metric="cpu", comparator=">", threshold=70, for_s=10, step=2, cooldown_s=20),
    AutoscaleRule(metric="cpu", comparator="<", threshold=20, for_s=30, step=-1, cooldown_s=20)])


def test_runs_keep_the_first_and_last_of_each_run():
    pairs = ((0.0, 3), (5.0, 3), (10.0, 3), (15.0, 5), (20.0, 3), (25.0, 3))
    assert runs(pairs) == ((0.0, 3), (10.0, 3), (15.0, 5), (20.0, 3), (25.0, 3))
    assert runs(()) == () and runs(((1.0, 2),)) == ((1.0, 2),)


@given(st.sampled_from([TARGETS, RULES]),
       st.lists(st.tuples(st.integers(0, 300), st.integers(0, 100), st.integers(0, 2)), min_size=1, max_size=80))
def test_compacted_windows_decide_exactly_as_the_whole_ones(policy, trace):
    """Every decision of a random trace is the same whether the state carried
    from one decision to the next is whole or compacted."""
    whole, small, current = State(), State(), 2
    for i, (rps, cpu, starting) in enumerate(trace):
        now = 1000.0 + 5 * i
        sample = Sample(time=now, serving=max(0, current - starting), starting=min(starting, current),
                        requests=rps * 5, rps=float(rps), inflight=1.0, cpu=float(cpu), p95_ms=10.0)
        a, whole = decide(policy, whole, sample, current, now)
        b, small = decide(policy, small, sample, current, now)
        small = compacted(small)
        assert (a.replicas, a.reason) == (b.replicas, b.reason)
        current = a.replicas


def test_a_steady_app_s_memory_has_no_news_and_stays_small():
    state, seen, current = State(), set(), 3
    for i in range(200):                                       # 1,000 s of the same load
        now = 1000.0 + 5 * i
        sample = Sample(time=now, serving=3, starting=0, requests=300, rps=60.0, inflight=1.0, cpu=50.0,
                        p95_ms=10.0)
        decision, state = decide(TARGETS, state, sample, current, now)
        state = compacted(state)
        seen.add(news(state, decision.replicas, decision.current))
    assert len(seen) <= 3                       # the first windows filling up, then nothing new
    assert len(state.recommendations) <= 2 and len(state.replicas_history) <= 2
