"""How long the work in hand may still wait on etcd: a time budget per API
request, carried by the thread (a ``contextvars`` variable), not passed
through every call.

The API gives each request a budget (``api_etcd_deadline``, 2 s); every etcd
call made for it waits at most what is left of it (edges/store/etcd.py asks
``remaining(its own timeout)`` and reports what it took with ``spend``), and
one made when nothing is left fails at once. So with etcd down or frozen a
request answers 503 within about its budget however many calls it makes,
and the API's threads are never all held for the store's full timeout. Only
the time spent waiting on etcd counts: a deploy's image check on a pod host
does not eat into it. The loops set none: their calls keep the store's own
timeout.

    token = budget.start(2.0)
    try:
        ...                       # the etcd calls here wait 2 s in all, at most
    finally:
        budget.end(token)
"""
from __future__ import annotations

import contextvars

_left: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("simplecloud_budget", default=None)


def start(seconds: float) -> contextvars.Token[list[float] | None]:
    """Give the work from here on ``seconds`` of waiting on etcd."""
    return _left.set([seconds])


def end(token: contextvars.Token[list[float] | None]) -> None:
    """Back to no budget (or the one before ``start``)."""
    _left.reset(token)


def remaining(default: float) -> float:
    """Seconds a call may wait: ``default``, or less when less of the budget
    is left (≤ 0 once it is spent)."""
    left = _left.get()
    return default if left is None else min(default, left[0])


def spend(seconds: float) -> None:
    """A call waited ``seconds``: that much less for the next ones."""
    left = _left.get()
    if left is not None:
        left[0] -= seconds
