"""``--wait``: poll the API until the nodes serve, with progress on stderr; exit 4 when it gives up."""
from __future__ import annotations

import sys
import time

from orchestrator.cli.client import EXIT_WAIT, Client, CliError, q
from orchestrator.cli.tables import plural

DEFAULT_WAIT = 120.0     # seconds --wait waits at most


def wait_for(check, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``check() -> (done, progress text)`` until done, showing progress on
    stderr; CliError (exit 4) with the last progress after ``timeout`` seconds.
    A poll that finds no manager, or only 503s (a manager lost, etcd electing),
    is shown and polled again: the wait outlives a failover, as the change it
    waits for does."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            done, text = check()
        except CliError as exc:
            if not exc.transient:
                raise
            done, text = False, f"the API did not answer ({exc}); asking again"
        if text != last:
            progress(f"waiting for {what}: {text}")
            last = text
        if done:
            progress("", end=True)
            return
        if time.monotonic() >= deadline:
            progress("", end=True)
            raise CliError(f"gave up after {timeout:g} s waiting for {what}: {text}", EXIT_WAIT)
        time.sleep(interval)


def progress(text: str, end: bool = False) -> None:
    """One progress line on stderr: rewritten in place on a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + text + ("\n" if end and text else ""))
    elif text:
        sys.stderr.write(text + "\n")
    sys.stderr.flush()


def node_serving(c: Client, pod: str, name: str) -> tuple[bool, str]:
    nodes = [n for n in c.call("GET", "/api/nodes", params={"pod": pod}) if n.get("name") == name]
    if not nodes:
        raise CliError(f"node '{name}' of pod '{pod}' was removed while waiting for it")
    o = nodes[0].get("observed") or {}
    phase = o.get("phase") or "waiting for the controller"
    detail = f"; last error: {o['last_error']}" if o.get("last_error") and phase != "serving" else ""
    return phase == "serving" and not o.get("updating"), f"{phase}{detail}"


def app_serving(c: Client, name: str, replicas: int | None = None) -> tuple[bool, str]:
    app = c.call("GET", f"/api/apps/{q(name)}")
    want = app.get("replicas", 0) if replicas is None else replicas
    serving, updating = app.get("serving", 0), app.get("updating", 0)
    others = {k: v for k, v in (app.get("phases") or {}).items() if k != "serving"}
    text = f"{serving}/{want} serving" + (f", {updating} updating" if updating else "") + (
        " (" + " ".join(f"{k}={v}" for k, v in sorted(others.items())) + ")" if others else "")
    errors = [(n.get("observed") or {}).get("last_error") for n in app.get("nodes", [])
              if (n.get("observed") or {}).get("phase") in ("backoff", "unhealthy")]
    if errors and errors[0]:
        text += f"; last error: {errors[0]}"
    done = serving == want and app.get("replicas") == want and not updating
    return done, text


def maybe_wait(c: Client, a, text: str, replicas: int | None = None) -> str:
    if not getattr(a, "wait", False):
        return text
    progress(text)
    wait_for(lambda: app_serving(c, a.name, replicas), a.timeout, f"app {a.name}")
    app = c.call("GET", f"/api/apps/{q(a.name)}")
    return f"{text}; {app.get('serving', 0)} of {plural(app.get('replicas', 0), 'replica')} serve"
