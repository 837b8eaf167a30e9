"""HAProxy's per-request log, received over UDP: the response times behind p95.

HAProxy's ``frontend http`` sends one datagram per request to
``127.0.0.1:<settings.haproxy_log_port>`` (``log ... format raw``, the line
being ``core.haproxy_stats.LOG_FORMAT``: backend, total active time, status, queue
time). UDP because HAProxy never waits for it: a manager that is down or slow
costs HAProxy nothing, and the workers can send it from their chroot as an
unprivileged user (no file or unix socket to reach).

``LogReceiver`` is one thread with one socket; each line it reads goes into a
``core.readings.LatencyWindow`` with the time it arrived (the request ended a
moment before). Lines it cannot read are counted, never fatal. Only
``app_*`` backends are kept: requests that no app serves (``no_app``) are not
an app's latency.

Only the local HAProxy is heard: the socket is bound to 127.0.0.1 and a
datagram from any other source address is dropped (``foreign``); and only
backends HAProxy really has are kept (``known``: the sampler's last reading
of HAProxy), so a local process sending made-up lines cannot grow the
number of series (``LatencyWindow.max_backends`` bounds it besides).
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Collection

from orchestrator.core.haproxy_stats import ParseError, parse_log_line
from orchestrator.core.readings import LatencyWindow

log = logging.getLogger(__name__)

APP_PREFIX = "app_"
MAX_DATAGRAM = 2048      # HAProxy sends at most "len 1024" bytes per line


class LogReceiver:
    """Receives HAProxy's request log on ``host:port`` into ``window``.

    ``port`` 0 binds a free port (tests); after ``start`` the ``port``
    attribute is the real one. ``clock`` must be the clock of whoever reads
    ``window`` (the sampler's)."""

    def __init__(self, window: LatencyWindow, port: int, host: str = "127.0.0.1",
                 clock: Callable[[], float] = time.monotonic,
                 known: Callable[[], Collection[str] | None] | None = None):
        """``known()``: the backends whose lines are kept (None, or answering
        None: every app's, up to the window's ``max_backends``)."""
        self.window = window
        self.host = host
        self.port = port
        self.clock = clock
        self.known = known
        self.received = 0         # lines kept
        self.rejected = 0         # lines that were not LOG_FORMAT, or of no backend HAProxy has
        self.foreign = 0          # datagrams from another address than the one bound
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LogReceiver:
        """Bind the socket and start the thread; OSError if the port is taken."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.settimeout(0.5)      # how soon close() is noticed
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="haproxy-log", daemon=True)
        self._thread.start()
        log.info("metrics: receiving HAProxy's request log on udp %s:%d", self.host, self.port)
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _run(self) -> None:
        sock = self._sock
        while sock is not None and not self._stop.is_set():
            try:
                data, sender = sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError as exc:
                if not self._stop.is_set():
                    log.warning("metrics: the request log socket failed: %s", exc)
                return
            if sender[0] != self.host:
                self.foreign += 1
                continue
            self.take(data.decode("utf-8", errors="replace"))

    def take(self, line: str) -> None:
        """One datagram: keep the request's time if it is an app's."""
        try:
            record = parse_log_line(line)
        except ParseError:
            self.rejected += 1
            return
        if not record.backend.startswith(APP_PREFIX):
            return
        known = self.known() if self.known is not None else None
        if known is not None and record.backend not in known:
            self.rejected += 1
            return
        if self.window.add(record.backend, self.clock(), record.ta_ms):
            self.received += 1
        else:
            self.rejected += 1
