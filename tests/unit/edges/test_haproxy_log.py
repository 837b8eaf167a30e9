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
