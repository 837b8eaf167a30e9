"""The unit tier's shared fixtures, defined once: ``store`` (the in-memory
FakeStore), ``cases`` (the use cases over it, cluster initialized) and
``world`` (a small pod "tiny" with app "web", a hand-moved clock and a
stand-in sampler, for the loops).

Hypothesis runs the same examples on every run (derandomize), so a unit run
never passes once and fails the next: a flaky test is a failing test. To
explore new examples on purpose: HYPOTHESIS_PROFILE=explore make test-unit."""
import os
from dataclasses import dataclass

import pytest
from hypothesis import settings

from orchestrator.usecases import UseCases
from tests.bodies import app_spec, pod_spec
from tests.unit.fakes import Clock, FakeStore, StubSampler

settings.register_profile("simplecloud", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "simplecloud"))


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def cases(store) -> UseCases:
    """The use cases over ``store``, no pod host reachable, the built-in pods and jobs created."""
    uc = UseCases.over(store)
    uc.cluster.init()
    return uc


@dataclass
class World:
    store: FakeStore
    cases: UseCases
    sampler: StubSampler
    clock: Clock


@pytest.fixture
def world(store, cases) -> World:
    """Pod "tiny" (3 nodes of 0.25 CPU) with app "web" at 2 replicas, for the loops' tests."""
    cases.pods.register(pod_spec(name="tiny", host="pod-light", max_nodes=3, cpus=0.25, memory_mb=64))
    cases.apps.deploy(app_spec(name="web", pod="tiny", port=8000, image="img", replicas=2))
    return World(store, cases, StubSampler(), Clock())
