"""HAProxy as the controllers drive it: the Runtime API (edges/haproxy_runtime.py)
and the structure: haproxy.cfg, checked and swapped in, and hitless reloads.

Structural changes (a new app, another balance algorithm, a new path) need a
new haproxy.cfg: ``apply_config`` renders it (core/haproxy_config.py),
checks it with ``haproxy -c``, saves every server's state (``show servers
state`` → the server-state file that the new worker loads), swaps the file
in and reloads through the master socket: its ``reload`` command starts a new
worker with the new haproxy.cfg while the old one finishes its connections
(listening sockets are handed over: ``expose-fd listeners``). Servers added at
run time are written into the new file too, so nothing is lost.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from orchestrator.core.haproxy_config import SERVER_OPTIONS, HAProxySettings, render
from orchestrator.core.model import App, Server
from orchestrator.core.plan import ROUTING_FIELDS
from orchestrator.edges.haproxy_runtime import (
    ADMIN_STATES,
    HAProxyError,
    RuntimeAPI,
    add_server_steps,
)

__all__ = ["ADMIN_STATES", "HAProxy", "HAProxyError", "add_server_steps", "group_by_backend", "routing_fields"]

log = logging.getLogger(__name__)


class HAProxy(RuntimeAPI):
    """Driver for one HAProxy (master-worker) through its sockets and config file."""

    def __init__(self, settings: HAProxySettings, *, waker_port: int = 0, api_port: int | None = None,
                 timeout: float = 5.0):
        """``settings``: the HAProxy group; ``waker_port`` and ``api_port``: where the
        waker and the API listen on loopback (haproxy.cfg points at them)."""
        super().__init__(settings, timeout)
        self.waker_port = waker_port
        self.api_port = api_port
        self._prometheus: bool | None = None
        self._fingerprint: str | None = None

    # ------------------------------------------------------------ structure
    def prometheus_supported(self) -> bool:
        """Whether this HAProxy build has the Prometheus exporter (``haproxy -vv``)."""
        if self._prometheus is None:
            out = self._run([self.settings.haproxy_bin, "-vv"]).stdout
            self._prometheus = "Prometheus exporter" in out
        return self._prometheus

    def render(self, apps: Iterable[App], servers_by_backend: Mapping[str, Iterable[Server]],
               wake: Collection[str] = ()) -> str:
        return render(apps, servers_by_backend, self.settings, prometheus=self.prometheus_supported(),
                      wake=wake, waker_port=self.waker_port, api_port=self.api_port)

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
        reloaded. ``servers_by_backend`` defaults to what HAProxy has now.
        Holds ``membership`` throughout: no server is added or deleted between
        the servers taken and the new worker answering (haproxy_runtime.py)."""
        with self.membership:
            return self._apply_config(list(apps), servers_by_backend, wake)

    def _apply_config(self, apps: list[App], servers_by_backend: Mapping[str, Iterable[Server]] | None,
                      wake: Collection[str]) -> bool:
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


def routing_fields(app: App, wake: bool = False) -> dict:
    """The part of an App that haproxy.cfg depends on (and whether it has the waker)."""
    return {**{f: (getattr(app, f) or "") for f in ROUTING_FIELDS}, "wake": "1" if wake else ""}


def group_by_backend(servers: Iterable[Server]) -> dict[str, list[Server]]:
    grouped: dict[str, list[Server]] = {}
    for s in servers:
        grouped.setdefault(s.backend, []).append(s)
    return grouped
