"""The request-log receiver (edges/haproxy_log.py), fed lines without a socket."""
from __future__ import annotations

from orchestrator.core.readings import (
    LatencyWindow,
)
from orchestrator.edges.haproxy_log import LogReceiver


def test_log_receiver_keeps_app_lines_and_counts_bad_ones():
    window = LatencyWindow()
    receiver = LogReceiver(window, port=0, clock=lambda: 7.0)   # not started: no socket
    for line in ("app_web 30 200 0\n", "no_app 0 404 -1\n", "garbage\n", "app_web 50 200 2\n"):
        receiver.take(line)
    assert (receiver.received, receiver.rejected) == (2, 1)
    assert window.p95("app_web", since=7.0) == (50.0, 2)


def test_only_backends_haproxy_has_are_kept_and_their_number_is_bounded():
    window = LatencyWindow(max_backends=3)
    known = {"app_web", "app_shop"}
    receiver = LogReceiver(window, port=0, clock=lambda: 7.0, known=lambda: known)
    for i in range(1000):                                  # a local sender making up backends
        receiver.take(f"app_fake{i} 30 200 0\n")
    receiver.take("app_web 30 200 0\n")
    assert (receiver.received, receiver.rejected) == (1, 1000)
    assert window.p95("app_web", since=0) == (30.0, 1) and window.p95("app_fake1", since=0) == (None, 0)
    unbounded = LogReceiver(window, port=0, clock=lambda: 7.0)        # without known: the cap still holds
    for i in range(10):
        unbounded.take(f"app_other{i} 30 200 0\n")
    assert unbounded.received == 2 and unbounded.rejected == 8     # 3 backends at most
