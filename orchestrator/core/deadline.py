"""How long the work in hand may still wait on an outside service: a deadline
per request, carried by the thread (a ``contextvars`` variable), not passed
through every call.

The API gives each request a deadline (``api.REQUEST_DEADLINE``); every etcd
call made for it then waits at most what is left of it (edges/store/etcd.py
takes ``remaining(its own timeout)``), and one started after it has passed
fails at once. So with etcd down or frozen a request answers 503 within its
deadline however many calls it makes, and the API's threads are never all
held for the store's full timeout. The loops set none: their calls keep the
store's own timeout.

    token = deadline.start(2.0)
    try:
        ...                       # every call waits at most what is left of 2 s
    finally:
        deadline.end(token)
"""
from __future__ import annotations

import contextvars
import time
from collections.abc import Callable

_until: contextvars.ContextVar[float | None] = contextvars.ContextVar("simplecloud_deadline", default=None)


def start(seconds: float, clock: Callable[[], float] = time.monotonic) -> contextvars.Token[float | None]:
    """Give the work from here on ``seconds`` (a nearer deadline already set stays)."""
    until = clock() + seconds
    current = _until.get()
    return _until.set(until if current is None else min(current, until))


def end(token: contextvars.Token[float | None]) -> None:
    """Back to the deadline before ``start`` (none, for a request's thread)."""
    _until.reset(token)


def remaining(default: float, clock: Callable[[], float] = time.monotonic) -> float:
    """Seconds a call may take: ``default``, or less when the deadline is
    nearer (≤ 0 once it has passed)."""
    until = _until.get()
    return default if until is None else min(default, until - clock())
