"""An API request's budget of waiting on etcd (core/budget.py)."""
from __future__ import annotations

import threading

from orchestrator.core import budget


def test_calls_wait_at_most_what_is_left_and_nothing_once_it_is_spent():
    assert budget.remaining(10.0) == 10.0                 # no budget: the store's own timeout
    token = budget.start(2.0)
    try:
        assert budget.remaining(10.0) == 2.0
        budget.spend(1.5)
        assert budget.remaining(10.0) == 0.5 and budget.remaining(0.1) == 0.1
        budget.spend(1.0)
        assert budget.remaining(10.0) <= 0
    finally:
        budget.end(token)
    assert budget.remaining(10.0) == 10.0


def test_each_thread_has_its_own():
    token = budget.start(1.0)
    seen = []
    try:
        worker = threading.Thread(target=lambda: seen.append(budget.remaining(10.0)))
        worker.start()
        worker.join()
    finally:
        budget.end(token)
    assert seen == [10.0]
