"""HAProxy's Runtime API: the sockets, and server membership without a reload.

Two channels, both unix sockets, one command per connection:

- the **admin socket** (``haproxy_admin_socket``, ``stats socket ...
  level admin``) talks to the current worker: list servers, add a server,
  drain it, put it in maintenance, delete it. Membership changes never need
  a reload.
- the **master socket** (``haproxy_master_socket``, from ``haproxy -W -S
  <path>``) talks to the master process (reloads: edges/haproxy.py).

One lock (``RuntimeAPI.membership``) is shared by every change of the
servers and by the reload (edges/haproxy.py ``apply_config``, which takes
the servers as they are, writes them into the new haproxy.cfg and reloads):
a server added or deleted while a reload is under way would otherwise be
missing from the new worker, or come back in it. The waits (a draining
server's sessions) are made outside it.

HAProxy 2.6 facts this relies on (management guide, "add server"):
dynamic servers do not inherit ``default-server``, start in maintenance with
health checks disabled, and need ``enable health`` and leaving maintenance
(see ``add_server_steps`` for the crash-safe order); ``del server`` only
works on a server in maintenance with no connections.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable

from orchestrator.core import errors
from orchestrator.core.haproxy_config import RETRIES, SERVER_OPTIONS, HAProxySettings
from orchestrator.core.haproxy_stats import (
    STAT_COMMAND,
    BackendStats,
    ParseError,
    parse_servers_state,
    parse_stats_answer,
)
from orchestrator.core.model import Server
from orchestrator.core.naming import WAKER_SERVER

log = logging.getLogger("orchestrator.edges.haproxy")

ADMIN_STATES = ("ready", "drain", "maint")


class HAProxyError(errors.SimpleCloudError):
    """HAProxy refused a command, rejected a config, or does not answer."""

    status = 502


class RuntimeAPI:
    """One HAProxy's sockets: what runs, and its servers (the membership)."""

    def __init__(self, settings: HAProxySettings, timeout: float = 5.0):
        """``settings``: the HAProxy group (where the sockets are)."""
        self.settings = settings
        self.timeout = timeout
        self.membership = threading.RLock()
        """Held by every change of the servers and by a reload (module docstring)."""

    # ------------------------------------------------------------ sockets
    def command(self, cmd: str, *, master: bool = False) -> str:
        """Send one command, return the whole answer (the socket closes after it)."""
        path = self.settings.haproxy_master_socket if master else self.settings.haproxy_admin_socket
        which = "master" if master else "admin"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(path)
                sock.sendall(cmd.encode() + b"\n")
                sock.shutdown(socket.SHUT_WR)   # "that was all": the master CLI then closes too
                chunks = []
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
        except OSError as exc:
            raise HAProxyError(f"HAProxy {which} socket {path} does not answer ({exc}); "
                               "is HAProxy running with that socket?") from exc
        return b"".join(chunks).decode("utf-8", errors="replace")

    def _expect(self, cmd: str, ok: Iterable[str] = ("",)) -> str:
        """Run a command whose success answer is known; raise with HAProxy's words otherwise."""
        answer = self.command(cmd).strip()
        if answer in ok or any(o and answer.startswith(o) for o in ok):
            return answer
        if "No such backend" in answer or "No such server" in answer:
            raise errors.NotFound(f"HAProxy: {cmd!r}: {answer}")
        raise HAProxyError(f"HAProxy refused {cmd!r}: {answer}")

    # ------------------------------------------------------------ observe
    def alive(self) -> bool:
        try:
            return "Pid:" in self.command("show info")
        except HAProxyError:
            return False

    def worker_pid(self) -> int:
        for line in self.command("show info").splitlines():
            if line.startswith("Pid:"):
                return int(line.split(":", 1)[1])
        raise HAProxyError("HAProxy 'show info' has no Pid line")

    def backends(self) -> set[str]:
        """Names of the backends the running worker has (MASTER/stats excluded)."""
        lines = self.command("show backend").splitlines()
        return {line.strip() for line in lines if line.strip() and not line.startswith("#")} - {"MASTER", "stats"}

    def show_servers(self) -> list[Server]:
        """Every server of every backend, with its admin state and health."""
        try:
            servers = parse_servers_state(self.command("show servers state"))
        except ParseError as exc:
            raise HAProxyError(f"HAProxy: {exc}") from exc
        return [s for s in servers if s.name != WAKER_SERVER]     # written in the config, never a node's

    def backend_stats(self) -> dict[str, BackendStats]:
        """Every backend's request counter, requests in progress and queued,
        and its servers that take requests: one ``show stat`` (the metrics)."""
        text = self.command(STAT_COMMAND)
        try:
            return parse_stats_answer(text)
        except ParseError as exc:
            raise HAProxyError(f"HAProxy: {exc}") from exc

    def sessions(self, backend: str, name: str) -> int:
        """Current sessions plus queued requests of one server (from ``show stat``)."""
        return _busy(self._stat_row(backend, name))

    def _stat_row(self, backend: str, name: str) -> dict[str, str]:
        """One server's ``show stat`` row, by column name."""
        text = self.command(f"show stat {backend} 4 -1")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            raise HAProxyError(f"unexpected 'show stat' answer: {text[:200]!r}")
        header = lines[0][2:].split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == backend and row.get("svname") == name:
                return row
        raise errors.NotFound(f"HAProxy has no server {backend}/{name}")

    # ------------------------------------------------------------ act
    def add_server(self, backend: str, name: str, addr: str, port: int, admin: str = "ready") -> None:
        """Add a server at run time, with health checks, and put it in state
        ``admin`` (``ready``: in service; ``maint`` keeps it out, e.g. for a
        PAUSED node). The commands are ``add_server_steps``: stopped after
        any of them (a crash), the server is in maintenance or has its checks
        on, and the planner repairs what is left (``core.plan``)."""
        if admin not in ADMIN_STATES:
            raise errors.ValidationError("admin", f"server state {admin!r} must be one of "
                                         f"{', '.join(ADMIN_STATES)}")
        with self.membership:
            for i, step in enumerate(add_server_steps(backend, name, addr, port, admin)):
                self._expect(step, ok=("New server registered.",) if i == 0 else ("",))
        log.info("haproxy: added %s/%s at %s:%s (%s)", backend, name, addr, port, admin)

    def wait_idle(self, backend: str, name: str, timeout: float = 2.0) -> bool:
        """Wait (at most ``timeout`` s) until a server has no sessions; True if idle."""
        deadline = time.monotonic() + timeout
        while self.sessions(backend, name):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def set_state(self, backend: str, name: str, admin: str) -> None:
        """``ready`` (in service), ``drain`` (no new sessions) or ``maint`` (out)."""
        if admin not in ADMIN_STATES:
            raise errors.ValidationError("admin", f"server state {admin!r} must be one of "
                                         f"{', '.join(ADMIN_STATES)}")
        with self.membership:
            self._expect(f"set server {backend}/{name} state {admin}")

    def del_server(self, backend: str, name: str, wait: float = 3.0) -> None:
        """Take a server out for good: drain it while its requests finish (at
        most ``wait`` seconds; 0 cuts them at once, for a worker that died or
        hangs), then maint, cut what is left, and ``del server``. A server
        that is already gone is fine (the goal is reached).

        Draining, not maint, while it waits: a drained server gets no new
        requests but keeps its health checks. A worker killed with a request
        in progress may leave it hanging (the answer will never come, and no
        reset either); its checks then fail, and once HAProxy marks it down
        the requests still on it are cut, and retried on another worker
        (``retry-on``), instead of waiting out ``wait``. Not at the moment it
        goes down: requests that were connecting to a killed worker are
        retried elsewhere by themselves one ``timeout connect`` later (a cut
        would close them without an answer), so a down server keeps its
        requests for up to ``retries`` connect timeouts first."""
        deadline, down_since = time.monotonic() + wait, None
        grace = (RETRIES + 1) * self.settings.connect_timeout
        try:
            if wait > 0 and self.sessions(backend, name):
                self.set_state(backend, name, "drain")
                while True:
                    row, now = self._stat_row(backend, name), time.monotonic()
                    if down_since is None and row.get("status", "").startswith("DOWN"):
                        down_since = now
                    if not _busy(row) or now >= deadline or (down_since is not None and now - down_since >= grace):
                        break
                    time.sleep(0.05)
            self.set_state(backend, name, "maint")       # under the lock (set_state)
            left = 0.0 if down_since is not None else max(0.0, deadline - time.monotonic())
            if not self.wait_idle(backend, name, left):
                self._expect(f"shutdown sessions server {backend}/{name}")
        except errors.NotFound:
            return
        for _ in range(20):
            with self.membership:
                answer = self.command(f"del server {backend}/{name}").strip()
            if answer.startswith("Server deleted"):
                log.info("haproxy: deleted %s/%s", backend, name)
                return
            if "No such server" in answer or "No such backend" in answer:
                return
            time.sleep(0.1)   # idle/active connections still closing
        raise HAProxyError(f"HAProxy would not delete {backend}/{name}: {answer}")


def add_server_steps(backend: str, name: str, addr: str, port: int, admin: str = "ready") -> list[str]:
    """The Runtime API commands that add a server, in an order where a crash
    after any of them never leaves a server taking traffic without checks.

    HAProxy 2.6 (management guide, "add server"): a dynamic server starts in
    maintenance, its ``check`` is off until ``enable health``, and it takes
    nothing from ``default-server`` (so SERVER_OPTIONS are given here). Both
    ``enable server`` and ``state ready`` from maintenance mark a server UP at
    once, before any check, and a ``health down`` given in maintenance does not
    stick. Hence:

    1. ``add server ... check ...``      in maintenance, checks off: no traffic
    2. ``enable health``                 checks on, still in maintenance
    3. ``state drain``                   out of maintenance, but no new requests
    4. ``health down``                   down until a check passes (it sticks now)
    5. ``state ready``                   takes traffic once the first check passes

    Stopped after 1, a server is in maintenance without checks: the planner
    deletes it and adds it again. After 2 to 4 it has its checks and is only
    out of service: the planner sets the state it should have. A ``maint``
    server stops after 2, a ``drain`` one after 4.
    """
    server = f"{backend}/{name}"
    steps = [f"add server {server} {addr}:{int(port)} {SERVER_OPTIONS}", f"enable health {server}"]
    if admin in ("drain", "ready"):
        steps += [f"set server {server} state drain", f"set server {server} health down"]
    if admin == "ready":
        steps.append(f"set server {server} state ready")
    return steps


def _busy(row: dict[str, str]) -> int:
    """A ``show stat`` row's sessions plus queued requests."""
    return int(row.get("scur") or 0) + int(row.get("qcur") or 0)
