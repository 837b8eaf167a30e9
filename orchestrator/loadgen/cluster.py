"""What the bench asks the manager's API (through the CLI's ``Client``, any
object with ``call(method, path, body=None, params=None)``): the app behind
a route, its serving nodes once a second, and its balance algorithm.

A balance change is a structural change of haproxy.cfg: the HAProxy sync renders
it and reloads HAProxy, then records a ``controller.reload_config`` event
whose message names the change ("app web: balance roundrobin → leastconn").
``set_balance`` waits for that event, so the load starts only once HAProxy
serves with the new algorithm; a ``controller.error`` or ``app.refused``
event about it ends the wait with the reason.
"""
from __future__ import annotations

import threading
import time
from urllib.parse import quote


class BenchError(Exception):
    """A failure to report as one line (exit 1)."""


def find_app(client, path: str | None, host: str | None, name: str | None = None) -> dict:
    """The app that serves the route (longest path prefix, or the Host), or the one named."""
    apps = client.call("GET", "/api/apps")
    if name:
        for app in apps:
            if app.get("name") == name:
                return app
        raise BenchError(f"no app named '{name}' (see: cloud app ls)")
    def score(app: dict) -> int:
        prefix = app.get("path") or ""
        by_host = bool(host) and app.get("host") == host
        by_path = bool(path and prefix) and (path == prefix or (path or "").startswith(prefix.rstrip("/") + "/"))
        return (1000 if by_host else 0) + (len(prefix) + 1 if by_path else 0)

    scored = [(score(app), app) for app in apps]
    top, best = max(scored, key=lambda pair: pair[0], default=(0, None))
    if best is None or top <= 0:
        route = " ".join(x for x in (host, path) if x)
        raise BenchError(f"no app serves {route}; name it with --app (see: cloud app ls)")
    return best


class ServingPoller:
    """Polls ``GET /api/apps/NAME`` once a second in a thread: [(unix time, serving nodes)]."""

    def __init__(self, client, app: str, interval: float = 1.0):
        self.client, self.app, self.interval = client, app, interval
        self.points: list[tuple[float, int]] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-serving", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                app = self.client.call("GET", f"/api/apps/{quote(self.app, safe='')}")
                self.points.append((time.time(), int(app.get("serving", 0))))
            except Exception:  # noqa: BLE001 - the plot shows the gap; the bench goes on
                self.failures += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=35)


def _event_key(e: dict) -> tuple:
    return (e.get("time"), e.get("kind"), e.get("subject"), e.get("message"))


def set_balance(client, app: str, balance: str, timeout: float = 60.0, progress=None) -> bool:
    """Set ``app``'s balance and wait until HAProxy reloaded with it; False if it already had it."""
    before = {_event_key(e) for e in client.call("GET", "/api/events", params={"limit": 200})}
    answer = client.call("PATCH", f"/api/apps/{quote(app, safe='')}", {"balance": balance})
    if "balance" not in (answer.get("changed") or []):
        return False
    wanted = f"app {app}: balance "
    deadline = time.monotonic() + timeout
    if progress:
        progress(f"balance of '{app}' → {balance}: waiting for HAProxy to reload")
    while True:
        for e in client.call("GET", "/api/events", params={"limit": 200}):
            if _event_key(e) in before:
                continue
            message = str(e.get("message", ""))
            if e.get("kind") == "controller.reload_config" and wanted in message and f"→ {balance}" in message:
                return True
            if (e.get("kind") == "controller.error" and "reload" in message) or (
                    e.get("kind") == "app.refused" and e.get("subject") == app):
                raise BenchError(f"HAProxy did not take balance {balance} for '{app}': {message}")
        if time.monotonic() > deadline:
            raise BenchError(f"no HAProxy reload with balance {balance} for '{app}' within {timeout:g} s "
                             "(is the manager's controller running? see: cloud events)")
        time.sleep(0.2)
