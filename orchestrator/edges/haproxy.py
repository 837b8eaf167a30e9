"""HAProxy at run time: the Runtime API, and hitless reloads.

Two channels, both unix sockets, one command per connection:

- the **admin socket** (``settings.haproxy_admin_socket``, ``stats socket ...
  level admin``) talks to the current worker: list servers, add a server,
  drain it, put it in maintenance, delete it. Membership changes never need
  a reload.
- the **master socket** (``settings.haproxy_master_socket``, from ``haproxy
  -W -S <path>``) talks to the master process; its ``reload`` command starts
  a new worker with the new haproxy.cfg while the old one finishes its
  connections (listening sockets are handed over: ``expose-fd listeners``).

Structural changes (a new app, another balance algorithm, a new path) need a
new haproxy.cfg: ``apply_config`` renders it, checks it with ``haproxy -c``,
saves every server's state (``show servers state`` → the server-state file
that the new worker loads), swaps the file in and reloads. Servers added at
run time are written into the new file too, so nothing is lost.

HAProxy 2.6 facts this relies on (management guide, "add server"):
dynamic servers do not inherit ``default-server``, start in maintenance with
health checks disabled, and need ``enable health`` and leaving maintenance
(see ``add_server_steps`` for the crash-safe order); ``del server`` only
works on a server in maintenance with no connections.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Collection, Iterable, Mapping

from orchestrator.core import errors
from orchestrator.core.haproxy_config import SERVER_OPTIONS, render
from orchestrator.core.metrics import STAT_COMMAND, BackendStats, ParseError, parse_stat_csv
from orchestrator.core.model import WAKER_SERVER, App, Server
from orchestrator.core.plan import ROUTING_FIELDS

log = logging.getLogger(__name__)

ADMIN_STATES = ("ready", "drain", "maint")

# srv_admin_state bits (management guide, "show servers state")
_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40   # forced, inherited, config, DNS, FQDN
_DRAIN_BITS = 0x08 | 0x10
# srv_check_state bits
_CHK_CONFIGURED, _CHK_ENABLED, _CHK_PAUSED = 0x02, 0x04, 0x08



class HAProxyError(errors.SimpleCloudError):
    """HAProxy refused a command, rejected a config, or does not answer."""

    status = 502


class HAProxy:
    """Driver for one HAProxy (master-worker) through its sockets and config file."""

    def __init__(self, settings, timeout: float = 5.0):
        self.settings = settings
        self.timeout = timeout
        self._prometheus: bool | None = None
        self._fingerprint: str | None = None

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
        return {l.strip() for l in lines if l.strip() and not l.startswith("#")} - {"MASTER", "stats"}

    def show_servers(self) -> list[Server]:
        """Every server of every backend, with its admin state and health."""
        return [s for s in parse_servers_state(self.command("show servers state"))
                if s.name != WAKER_SERVER]     # written in the config, never a node's

    def backend_stats(self) -> dict[str, BackendStats]:
        """Every backend's request counter, requests in progress and queued,
        and its servers that take requests: one ``show stat`` (the metrics)."""
        text = self.command(STAT_COMMAND)
        try:
            return parse_stat_csv(text)
        except ParseError as exc:
            raise HAProxyError(f"HAProxy: {exc}") from exc

    def sessions(self, backend: str, name: str) -> int:
        """Current sessions plus queued requests of one server (from ``show stat``)."""
        text = self.command(f"show stat {backend} 4 -1")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            raise HAProxyError(f"unexpected 'show stat' answer: {text[:200]!r}")
        header = lines[0][2:].split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == backend and row.get("svname") == name:
                return int(row.get("scur") or 0) + int(row.get("qcur") or 0)
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
        self._expect(f"set server {backend}/{name} state {admin}")

    def del_server(self, backend: str, name: str, wait: float = 3.0) -> None:
        """Take a server out for good: maint, let its sessions end (at most
        ``wait`` seconds; 0 cuts them at once, for a worker that died or
        hangs), then ``del server``. A server that is already gone is fine
        (the goal is reached)."""
        try:
            self.set_state(backend, name, "maint")
        except errors.NotFound:
            return
        if wait <= 0 or not self.wait_idle(backend, name, wait):
            try:
                self._expect(f"shutdown sessions server {backend}/{name}")
            except errors.NotFound:
                return
        for attempt in range(20):
            answer = self.command(f"del server {backend}/{name}").strip()
            if answer.startswith("Server deleted"):
                log.info("haproxy: deleted %s/%s", backend, name)
                return
            if "No such server" in answer or "No such backend" in answer:
                return
            time.sleep(0.1)   # idle/active connections still closing
        raise HAProxyError(f"HAProxy would not delete {backend}/{name}: {answer}")

    # ------------------------------------------------------------ structure
    def prometheus_supported(self) -> bool:
        """Whether this HAProxy build has the Prometheus exporter (``haproxy -vv``)."""
        if self._prometheus is None:
            out = self._run([self.settings.haproxy_bin, "-vv"]).stdout
            self._prometheus = "Prometheus exporter" in out
        return self._prometheus

    def render(self, apps: Iterable[App], servers_by_backend: Mapping[str, Iterable[Server]],
               wake: Collection[str] = ()) -> str:
        return render(apps, servers_by_backend, self.settings,
                      prometheus=self.prometheus_supported(), wake=wake)

    def check_config(self, path: str) -> None:
        """``haproxy -c -f path``; HAProxyError with HAProxy's message if invalid."""
        res = self._run([self.settings.haproxy_bin, "-c", "-q", "-f", path])
        if res.returncode != 0:
            raise HAProxyError(f"HAProxy rejects the rendered config {path}: "
                               f"{(res.stdout + res.stderr).strip()}")

    def configured_apps(self) -> dict[str, dict]:
        """Routing fields of the apps the running config was rendered from
        (name → {path, host, balance, health_path}), read from the sidecar file
        written after each successful reload; only apps whose backend the
        running worker really has are returned."""
        apps = self._read_sidecar().get("apps")
        if not isinstance(apps, dict):
            return {}
        present = self.backends()
        return {name: fields for name, fields in apps.items() if f"app_{name}" in present}

    def settings_drift(self) -> str:
        """Why haproxy.cfg must be re-rendered although no app changed: it was
        rendered with other settings (user, chroot, binds, API TLS), or we do
        not know which. "" if it matches."""
        if self._read_sidecar().get("settings") == self._settings_fingerprint():
            return ""
        return "the manager's HAProxy settings changed"

    def _settings_fingerprint(self) -> str:
        """What the settings and the code alone put in the config: the text
        rendered for no apps, and every backend's server options."""
        if self._fingerprint is None:
            empty = self.render([], {})
            self._fingerprint = hashlib.sha256((empty + SERVER_OPTIONS).encode()).hexdigest()[:16]
        return self._fingerprint

    def apply_config(self, apps: Iterable[App],
                     servers_by_backend: Mapping[str, Iterable[Server]] | None = None,
                     wake: Collection[str] = ()) -> bool:
        """Render haproxy.cfg for ``apps`` (+ servers); if it differs from the
        file (or the running worker lacks a backend), check it, save server
        states, swap the file in and reload hitlessly. Returns whether it
        reloaded. ``servers_by_backend`` defaults to what HAProxy has now."""
        apps = list(apps)
        if servers_by_backend is None:
            servers_by_backend = group_by_backend(self.show_servers())
        text = self.render(apps, servers_by_backend, wake)
        path = Path(self.settings.haproxy_config)
        current = path.read_text() if path.exists() else None
        wanted = {f"app_{a.name}" for a in apps}
        if current == text and wanted <= self.backends():
            self._write_sidecar(apps, wake)
            return False
        tmp = self._write_tmp(path, text)
        try:
            self.check_config(tmp)
            self.save_state()
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        try:
            self.reload()
        except HAProxyError:
            # put the file the running worker uses back, so disk and process agree
            if current is not None:
                os.replace(self._write_tmp(path, current), path)
            raise
        self._write_sidecar(apps, wake)
        return True

    def save_state(self) -> None:
        """``show servers state`` → the server-state file the next worker loads."""
        state = self.command("show servers state")
        if not state.startswith("1"):
            raise HAProxyError(f"unexpected 'show servers state' answer: {state[:200]!r}")
        target = Path(self.settings.haproxy_state_file)
        os.replace(self._write_tmp(target, state), target)

    def reload(self, timeout: float = 15.0) -> None:
        """Reload through the master socket and wait until the new worker
        answers on the admin socket. HAProxyError if the master reports a
        failed reload or no new worker shows up in time."""
        before_pid = self.worker_pid()
        before_failed = self._failed_reloads()
        try:
            self.command("reload", master=True)   # the master closes the connection
        except HAProxyError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                if self._failed_reloads() > before_failed:
                    raise HAProxyError("HAProxy master reports the reload failed; the old "
                                       "worker keeps serving the previous config")
                if self.worker_pid() != before_pid:
                    log.info("haproxy: reloaded (worker %s → %s)", before_pid, self.worker_pid())
                    return
            except HAProxyError as exc:
                if "reload failed" in str(exc):
                    raise
        raise HAProxyError(f"HAProxy did not start a new worker within {timeout:.0f}s of reload")

    # ------------------------------------------------------------ helpers
    def _failed_reloads(self) -> int:
        """The "[failed: N]" counter of ``show proc`` on the master socket."""
        for line in self.command("show proc", master=True).splitlines():
            if "master" in line and "failed:" in line:
                return int(line.split("failed:", 1)[1].split("]", 1)[0])
        return 0

    def _sidecar(self) -> str:
        return self.settings.haproxy_config + ".apps.json"

    def _read_sidecar(self) -> dict:
        try:
            data = json.loads(Path(self._sidecar()).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_sidecar(self, apps: list[App], wake: Collection[str] = ()) -> None:
        data = {"settings": self._settings_fingerprint(),
                "apps": {a.name: routing_fields(a, a.name in wake) for a in apps}}
        target = Path(self._sidecar())
        os.replace(self._write_tmp(target, json.dumps(data, indent=1, sort_keys=True)), target)

    @staticmethod
    def _write_tmp(target: Path, text: str) -> str:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return tmp

    @staticmethod
    def _run(argv: list[str]) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except FileNotFoundError as exc:
            raise HAProxyError(f"{argv[0]} not found; install haproxy or set haproxy_bin") from exc


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


def routing_fields(app: App, wake: bool = False) -> dict:
    """The part of an App that haproxy.cfg depends on (and whether it has the waker)."""
    return {**{f: (getattr(app, f) or "") for f in ROUTING_FIELDS}, "wake": "1" if wake else ""}


def group_by_backend(servers: Iterable[Server]) -> dict[str, list[Server]]:
    grouped: dict[str, list[Server]] = {}
    for s in servers:
        grouped.setdefault(s.backend, []).append(s)
    return grouped


def parse_servers_state(text: str) -> list[Server]:
    """Parse ``show servers state`` (format version 1) into Servers."""
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines:
        return []
    if lines[0].strip() != "1":
        raise HAProxyError(f"unknown 'show servers state' format {lines[0]!r} (expected 1)")
    header: list[str] = []
    servers = []
    for line in lines[1:]:
        if line.startswith("#"):
            header = line[1:].split()
            continue
        row = dict(zip(header, line.split()))
        admin_bits = int(row["srv_admin_state"])
        check_bits = int(row["srv_check_state"])
        if admin_bits & _MAINT_BITS:
            admin = "maint"
        elif admin_bits & _DRAIN_BITS:
            admin = "drain"
        else:
            admin = "ready"
        checks = bool(check_bits & _CHK_CONFIGURED and check_bits & _CHK_ENABLED)
        healthy: bool | None = None
        if checks and not check_bits & _CHK_PAUSED:
            # Healthy once a check has passed (result 3 PASSED, 4 CONDPASS):
            # before its first check a new server is not yet proven up.
            healthy = int(row["srv_op_state"]) != 0 and int(row["srv_check_result"]) in (3, 4)
        servers.append(Server(backend=row["be_name"], name=row["srv_name"],
                              addr=row["srv_addr"], port=int(row["srv_port"]),
                              admin=admin, healthy=healthy, checks=checks))
    return servers
