"""Hypothesis runs the same examples on every run (derandomize), so a unit run
never passes once and fails the next: a flaky test is a failing test. To
explore new examples on purpose: HYPOTHESIS_PROFILE=explore make test-unit."""
import os

from hypothesis import settings

settings.register_profile("simplecloud", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "simplecloud"))
