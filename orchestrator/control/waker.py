"""The waker: the first request to an app at zero replicas is held, not refused.

An app whose policy scales it to zero has the waker as a *backup* server in
its HAProxy backend (core/haproxy_config.py, WAKER_SERVER, with a maxconn).
With no node up, HAProxy sends the request here. The waker

1. scales the app to its first node (``max(min, 1)``) if it has none, once,
   with an ``autoscale`` event; a node of its warm pool is promoted if it
   has one (a ``set server ... state ready``, no container to start);
2. holds the request until HAProxy has a server of that app up (or until
   ``start_timeout``);
3. answers 503, which that backend retries (``retry-on ... 503``): the retry
   goes to the node that is now up, so the client sees the node's answer.

What a held request costs is one worker start: the container starting and
passing its first health check (see docs/autoscaling.md). Requests that
HAProxy does not retry (anything but GET, see the backend's
``disable-l7-retry``) wake the app too but get the 503, with Retry-After.

Bounded under a burst: one poller per app watches HAProxy's servers (every
``POLL`` s) for all the requests held for that app, however many; at most
``max_held`` requests are held at once, and those beyond are answered 503
with ``Retry-After: 1`` at once; a connection that sends no request within
``REQUEST_TIMEOUT`` s is closed.
"""
from __future__ import annotations

import http.server
import json
import logging
import threading
import time

from orchestrator.control.autoscaler import Scaler
from orchestrator.control.reporting import Reporter
from orchestrator.core import errors
from orchestrator.core.naming import backend_name
from orchestrator.core.scaling import serving_nodes
from orchestrator.edges.protocols import HAProxyProtocol, StoreProtocol

APP_HEADER = "X-Simplecloud-App"
MAX_HELD = 100            # requests held at once, all apps together
POLL = 0.05               # seconds between an app's poller's reads of HAProxy's servers
REQUEST_TIMEOUT = 10.0    # seconds a connection may take to send its request


class _Poll:
    """One app's poller: ``ready`` is set once HAProxy has a server of it up."""

    def __init__(self, until: float):
        self.until = until
        self.ready = threading.Event()
        self.finished = False


class Waker:
    """Wakes apps at zero and holds their requests; one small HTTP server on 127.0.0.1."""

    def __init__(self, store: StoreProtocol, scaler: Scaler, haproxy: HAProxyProtocol, port: int,
                 start_timeout: float, log: logging.Logger | None = None, max_held: int = MAX_HELD):
        """``port``: where it listens on 127.0.0.1 (``waker_port``); ``start_timeout``:
        how long a request is held at most (the healing policy's); ``max_held``:
        requests held at once (more get 503 + Retry-After at once)."""
        self.store = store
        self.scaler = scaler
        self.haproxy = haproxy
        self.port = port
        self.start_timeout = start_timeout
        self.max_held = max_held
        self.log = log or logging.getLogger("orchestrator.waker")
        self.reporter = Reporter(store, self.log)
        self._lock = threading.Lock()            # one scale for a burst of first requests
        self._polls_lock = threading.Lock()
        self._polls: dict[str, _Poll] = {}
        self._held = 0
        self._server: http.server.ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ decisions
    def wake(self, app_name: str) -> str:
        """Make sure the app has nodes; "" if it had some, else what was done."""
        with self._lock:                 # one scale for a burst of first requests
            app = self.store.get_app(app_name)
            policy = self.store.get_autoscale(app_name)
            if app is None or policy is None:
                raise errors.NotFound(f"app {app_name!r} does not scale to zero")
            if serving_nodes(self.store.list_nodes(app.pod), app.name):     # warm ones are promoted
                return ""
            first = max(1, policy.min)
            message = f"{app.name}: 0 → {first}: a request arrived while it was at zero"
            self.scaler.scale_to(app, first, message)         # the event with the change
            self.log.info(message)
            return message

    def serving(self, app_name: str) -> bool:
        """Whether HAProxy has a server of the app up now."""
        backend = backend_name(app_name)
        try:
            return any(s.backend == backend and s.healthy and s.admin == "ready"
                       for s in self.haproxy.show_servers())
        except errors.SimpleCloudError as exc:
            self.reporter.error("controller.error", "waker", f"the waker cannot read HAProxy's servers: {exc}")
            return False

    def wait_until_serving(self, app_name: str, timeout: float) -> bool:
        """Whether HAProxy has a server of the app up within ``timeout`` seconds:
        every request held for one app waits on the same poller."""
        if timeout <= 0:
            return self.serving(app_name)
        return self._poll(app_name, time.monotonic() + timeout).ready.wait(timeout)

    def _poll(self, app_name: str, until: float) -> _Poll:
        """The app's poller, started if none runs, watching at least until ``until``."""
        with self._polls_lock:
            poll = self._polls.get(app_name)
            if poll is not None and not poll.finished:
                poll.until = max(poll.until, until)
                return poll
            poll = self._polls[app_name] = _Poll(until)
        threading.Thread(target=self._watch, args=(app_name, poll), name=f"waker-{app_name}",
                         daemon=True).start()
        return poll

    def _watch(self, app_name: str, poll: _Poll) -> None:
        while True:
            if self.serving(app_name):
                poll.ready.set()
            with self._polls_lock:
                if poll.ready.is_set() or time.monotonic() >= poll.until:
                    poll.finished = True
                    if self._polls.get(app_name) is poll:
                        del self._polls[app_name]
                    return
            time.sleep(POLL)

    # ------------------------------------------------------------ HTTP
    def start(self, stop: threading.Event) -> None:
        """Serve on 127.0.0.1:``port`` until ``stop`` is set."""
        waker = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = REQUEST_TIMEOUT

            def handle_one(self):
                waker.hold(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = handle_one

            def log_message(self, fmt, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="waker", daemon=True).start()
        threading.Thread(target=self._stop_on, args=(stop,), name="waker-stop", daemon=True).start()

    def _stop_on(self, stop: threading.Event) -> None:
        stop.wait()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def hold(self, request: http.server.BaseHTTPRequestHandler) -> None:
        """Wake the app named by the request's header, wait for it, answer 503
        (at once, with Retry-After: 1, when ``max_held`` requests are held)."""
        app = request.headers.get(APP_HEADER, "")
        with self._polls_lock:
            full = self._held >= self.max_held
            self._held += 0 if full else 1
        if full:
            _answer(request, f"too many requests are waiting for apps to start ({self.max_held}); "
                             "retry in a moment", retry_after=1)
            return
        try:
            self.wake(app)
            ready = self.wait_until_serving(app, self.start_timeout)
            message = (f"app {app} is up now; retry" if ready else
                       f"app {app} did not start within {self.start_timeout:g} s; "
                       "see: cloud node ls")
        except errors.SimpleCloudError as exc:
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - a held request is always answered
            self.reporter.error("controller.error", "waker", f"the waker failed: {type(exc).__name__}: {exc}",
                                exc=exc)
            message = "the manager could not wake the app; retry in a moment"
        finally:
            with self._polls_lock:
                self._held -= 1
        _answer(request, message, retry_after=0)


def _answer(request: http.server.BaseHTTPRequestHandler, message: str, retry_after: int) -> None:
    """A JSON 503 with Retry-After (no body for HEAD)."""
    body = json.dumps({"error": message}).encode()
    request.send_response(503)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(body)))
    request.send_header("Retry-After", str(retry_after))
    request.end_headers()
    if request.command != "HEAD":
        request.wfile.write(body)
