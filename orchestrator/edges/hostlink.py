"""The host link: one long-lived, supervised SSH connection per pod host.

Why one link: a new SSH handshake (or a new ``ssh`` process) per Docker call
costs 200-500 ms and breaks under load (BrokenPipe); one kept-open link costs
a fraction of a millisecond per call (docs/decisions.md has the figures).

What one ``HostLink`` is:

* a **Fabric** ``Connection`` (paramiko underneath) to ``user@host``, with the
  user's ``~/.ssh/config`` (or ``settings.ssh_config_file``) applied and SSH
  keepalives switched on. The host must show a key recorded for it in the
  known_hosts file the ssh_config names (provisioning records every pod
  host's): any other key keeps the link down with an error that says so;
* a **local unix socket** ``<link_dir>/<host>.sock`` (directory mode 700) that
  carries the Docker API: every connection the Docker SDK opens to it becomes
  one SSH channel running ``settings.docker_dial_command`` (``socat`` to
  ``/var/run/docker.sock``) on the host, and bytes are pumped both ways. The
  SDK's connection pool keeps those channels open, so a call costs one round
  trip. The Docker SDK's own ``timeout`` applies to that socket: every call has
  a hard deadline, even against a host that has frozen;
* a **supervisor** thread that pings the engine (``GET /_ping``) every
  ``link_ping_interval`` seconds with a ``link_ping_timeout`` deadline. After
  ``link_ping_failures`` misses in a row the link is *down*: its channels are
  closed, calls fail at once with ``HostUnavailable`` saying since when and
  why, and it reconnects with back-off (0.5 s doubling to ``link_backoff_max``);
* an **events** thread that follows ``docker events`` for our containers and
  hands each one to ``on_event`` (a die reaches the controller in
  milliseconds, not at the next pass).

A ``unix://`` URL (tests, or a manager that is also its own pod host) gives a
link with the same supervision and events but no SSH: the socket is used as is.

``HostPool`` (edges/hostpool.py) keeps one link and one ``DockerHost`` per
pod host name; ``Forwarder`` (edges/forwarder.py) is the local socket.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import os
import random
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import docker
import requests.exceptions

from orchestrator.core import errors
from orchestrator.edges.docker_host import API_VERSION, LABEL_MANAGED, HostUnavailable
from orchestrator.edges.forwarder import Forwarder, quiet_close
from orchestrator.settings import LinkSettings

log = logging.getLogger(__name__)

EventHandler = Callable[[str, dict], None]          # (host name, docker event)
StateHandler = Callable[[str, "LinkState"], None]    # (host name, new state)


@dataclass(frozen=True)
class LinkState:
    """What a link knows about its host, for users and controllers."""

    up: bool
    since: float               # up: when it came up; down: when it last answered (Unix time)
    error: str = ""            # why it is down (empty when up)
    rtt_ms: float | None = None  # last ping round trip through the link

    def to_dict(self) -> dict:
        return {"reachable": self.up, "since": self.since, "error": self.error,
                "rtt_ms": self.rtt_ms}


class HostLink:
    """One supervised link to one pod host (see the module docstring)."""

    def __init__(self, name: str, url: str, settings: LinkSettings,
                 on_event: EventHandler | None = None, on_state: StateHandler | None = None,
                 event_labels: dict[str, str] | None = None):
        self.name = name
        self.url = url
        self.settings = settings
        self.on_event = on_event
        self.on_state = on_state
        self.event_labels = {LABEL_MANAGED: "1", **(event_labels or {})}
        parsed = urlparse(url)
        self.ssh = parsed.scheme == "ssh"
        if parsed.scheme not in ("ssh", "unix"):
            raise errors.ValidationError("docker_hosts", f"host {name}: Docker URL {url!r} must "
                                         "start with ssh:// or unix://")
        self._target = parsed
        if self.ssh:
            self.socket_path = os.path.join(settings.link_dir, f"{name}.sock")
        else:
            self.socket_path = parsed.path
        self.docker_url = f"unix://{self.socket_path}"
        self.state = LinkState(up=False, since=time.time(), error="not connected yet")
        self._heard = 0.0                      # when the host last answered (a ping or a connect)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._up = threading.Event()
        self._tried = threading.Event()        # the first connection attempt is over
        self._conn = None                      # fabric.Connection while up
        self._forwarder: Forwarder | None = None
        self._pinger: docker.APIClient | None = None   # the pings' kept connection
        self._events: socket.socket | None = None   # the socket of the events stream
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"HostLink({self.name!r}, {self.url!r}, up={self.state.up})"

    # ------------------------------------------------------------ lifecycle
    def start(self) -> HostLink:
        """Start supervising (connects in the background); returns self."""
        with self._lock:
            if self._threads:
                return self
            for target, what in ((self._supervise, "link"), (self._follow_events, "events")):
                t = threading.Thread(target=target, name=f"{what}-{self.name}", daemon=True)
                t.start()
                self._threads.append(t)
        return self

    def wait_up(self, timeout: float) -> bool:
        """Block until the link is up (True) or ``timeout`` passes (False)."""
        return self._up.wait(timeout)

    def close(self) -> None:
        """Stop the threads and close the connection and the local socket."""
        self._stop.set()
        self._teardown("link closed")
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    @property
    def up(self) -> bool:
        return self.state.up

    def check_up(self) -> None:
        """Raise HostUnavailable at once if the link is down (a new link is
        given the time of its first connection attempt)."""
        self._tried.wait(self.settings.link_connect_timeout + self.settings.link_ping_timeout)
        state = self.state
        if not state.up:
            raise HostUnavailable(
                f"host {self.name} is unreachable since {time.strftime('%H:%M:%S', time.localtime(state.since))}"
                f" ({state.error}); its nodes are left as they are until it answers again")

    # ------------------------------------------------------------ host commands
    def run(self, command: str, timeout: float | None = None) -> str:
        """Run a shell command on the host over the link (Fabric); returns its
        stdout. HostUnavailable if the link is down, the command fails or it
        takes longer than ``timeout`` (default: the Docker call deadline)."""
        self.check_up()
        conn = self._conn
        if not self.ssh:   # a unix:// link: the engine is on this machine
            return _run_here(self.name, command, timeout or self.settings.docker_call_timeout)
        if conn is None:
            raise HostUnavailable(f"host {self.name}: the link went down")
        try:
            result = conn.run(command, hide=True, warn=True, in_stream=False,
                              timeout=timeout or self.settings.docker_call_timeout)
        except Exception as exc:  # noqa: BLE001 - invoke/paramiko raise many kinds
            raise HostUnavailable(f"host {self.name}: {command!r} failed: {exc}") from exc
        if result.exited != 0:
            raise HostUnavailable(f"host {self.name}: {command!r} exited {result.exited}: "
                                  f"{result.stderr.strip()[:300]}")
        return result.stdout

    # ------------------------------------------------------------ supervision
    def _supervise(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._connect()
            except Exception as exc:  # noqa: BLE001 - any failure: down, retry later
                self._teardown(_reason(exc))
                self._set_down(_reason(exc))
                self._tried.set()
                self._stop.wait(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, self.settings.link_backoff_max)
                continue
            backoff = 0.5
            self._tried.set()
            self._watch()                      # returns when the link went down
            self._teardown(self.state.error or "link lost")

    def _connect(self) -> None:
        if self.ssh:
            self._conn = self._open_ssh()
            self._forwarder = Forwarder(self.socket_path, self._open_docker_channel,
                                         f"docker-{self.name}")
        rtt = self._ping()
        self._set_up(rtt)

    def _open_ssh(self):
        from fabric import Config, Connection
        from paramiko import BadHostKeyException, RejectPolicy

        config = Config(runtime_ssh_path=self.settings.ssh_config_file or None)
        t = self._target
        conn = Connection(t.hostname, user=t.username or None, port=t.port or None, config=config,
                          connect_timeout=max(1, int(self.settings.link_connect_timeout)),
                          connect_kwargs={"banner_timeout": self.settings.link_connect_timeout,
                                          "auth_timeout": self.settings.link_connect_timeout})
        # Fabric accepts any host key (AutoAddPolicy) and reads no known_hosts.
        # The link trusts only the keys recorded for the host, in the files the
        # ssh_config names (UserKnownHostsFile; ~/.ssh/known_hosts by default),
        # whatever StrictHostKeyChecking says, and refuses any other key.
        files = known_hosts_files(conn.ssh_config)
        for path in files:
            if os.path.exists(path):
                conn.client.load_system_host_keys(path)
        conn.client.set_missing_host_key_policy(RejectPolicy())
        where = " or ".join(files)
        seen_as = conn.host if conn.port == 22 else f"[{conn.host}]:{conn.port}"
        try:
            conn.open()
        except BadHostKeyException as exc:
            raise HostUnavailable(
                f"its SSH host key changed: it shows {exc.key.get_name()} {fingerprint(exc.key)}, not the key "
                f"{where} records for {seen_as}; refusing it. If {self.name} was rebuilt, record its new key: "
                f"make provision (or ssh-keygen -R '{seen_as}' -f {files[0]})") from None
        except Exception as exc:
            if "not found in known_hosts" not in str(exc):
                raise
            raise HostUnavailable(f"no SSH host key of {seen_as} is recorded in {where}; refusing to connect "
                                  "(make provision records the pod hosts' keys)") from None
        conn.transport.set_keepalive(max(1, int(self.settings.link_keepalive)))
        return conn

    def _open_docker_channel(self):
        conn = self._conn
        if conn is None or not conn.is_connected:
            raise HostUnavailable(f"host {self.name}: link is down")
        channel = conn.transport.open_session(timeout=self.settings.link_ping_timeout)
        channel.exec_command(self.settings.docker_dial_command)
        return channel

    def _watch(self) -> None:
        """Ping until ``link_ping_failures`` pings in a row fail (or we stop)."""
        misses = 0
        while not self._stop.wait(self.settings.link_ping_interval):
            if self._conn is not None and not self._conn.is_connected:
                self._set_down("SSH connection closed")
                return
            try:
                rtt = self._ping()
            except Exception as exc:  # noqa: BLE001 - any failure of a ping is a missed ping
                misses += 1
                if misses >= self.settings.link_ping_failures:
                    self._set_down(f"its Docker engine did not answer {misses} pings in a row "
                                   f"({_ping_failure(exc, self.settings.link_ping_timeout)})")
                    return
                continue
            misses = 0
            self._heard = time.time()
            self.state = LinkState(True, self.state.since, "", rtt)

    def _ping(self) -> float:
        """One ``GET /_ping`` through the link, with its deadline; the round trip in ms.

        Pings share one kept connection: one SSH channel and one dial command
        on the host for as long as they answer, not a new channel and a new
        process every second (under TCG those alone kept a pod host VM's CPU
        at 13 %, and a host busy starting containers was slow to fork them).
        A failed ping drops it, so the next one dials afresh."""
        if not self.ssh:                      # docker-py leaks the socket of a failed unix connect
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(self.settings.link_ping_timeout)
                probe.connect(self.socket_path)
        if self._pinger is None:
            self._pinger = docker.APIClient(base_url=self.docker_url, timeout=self.settings.link_ping_timeout,
                                            version=API_VERSION)
        try:
            t0 = time.monotonic()
            self._pinger.ping()
            return round((time.monotonic() - t0) * 1000, 2)
        except Exception:
            self._drop_pinger()
            raise

    def _drop_pinger(self) -> None:
        pinger, self._pinger = self._pinger, None
        if pinger is not None:
            pinger.close()

    def _teardown(self, why: str) -> None:
        """Close the events stream, the local socket and the SSH connection."""
        log.debug("host %s: closing the link (%s)", self.name, why)
        self._drop_pinger()
        events = self._events
        if events is not None:                 # ends the events thread's blocking read
            try:
                events.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        forwarder, self._forwarder = self._forwarder, None
        conn, self._conn = self._conn, None
        if forwarder is not None:
            forwarder.close()
        if conn is not None:
            # closing a connection to a frozen host must not hold us up
            threading.Thread(target=quiet_close, args=(conn,), daemon=True).start()

    def _set_up(self, rtt: float) -> None:
        was_up = self.state.up
        self._heard = time.time()
        self.state = LinkState(True, self._heard if not was_up else self.state.since, "", rtt)
        self._up.set()
        if not was_up:
            log.info("host %s: link up (%s, ping %.1f ms)", self.name, self.url, rtt)
            self._notify()

    def _set_down(self, error: str) -> None:
        """Down since the host last answered, not since we gave up on it: the
        misses that noticed it took seconds (``link_ping_failures`` deadlines),
        and the grace before its nodes move counts from its silence, as
        Kubernetes counts a node's grace from its last heartbeat."""
        was_up = self.state.up
        self._up.clear()
        if was_up or self.state.error != error:
            since = (self._heard or time.time()) if was_up else self.state.since
            self.state = LinkState(False, since, error)
            log.warning("host %s: link down: %s", self.name, error)
            self._notify()

    def _notify(self) -> None:
        if self.on_state is not None:
            try:
                self.on_state(self.name, self.state)
            except Exception:  # noqa: BLE001 - a handler bug must not kill the link
                log.exception("host %s: state handler failed", self.name)

    # ------------------------------------------------------------ events
    def _follow_events(self) -> None:
        """Hand every event of our containers to ``on_event``, across reconnects."""
        filters = {"type": ["container"], "label": [f"{k}={v}" for k, v in self.event_labels.items()]}
        while not self._stop.is_set():
            if not self._up.wait(0.5):
                continue
            try:
                for event in self._events_stream(filters):
                    if self.on_event is not None:
                        try:
                            self.on_event(self.name, event)
                        except Exception:  # noqa: BLE001 - a handler bug must not end the events
                            log.exception("host %s: event handler failed", self.name)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                log.debug("host %s: event stream ended: %s", self.name, exc)
            self._stop.wait(0.2)               # the stream ends when the link drops

    def _events_stream(self, filters: dict):
        """``GET /events`` on the link's socket, one decoded event per line.

        A plain HTTP request on a socket we own (not the SDK's), so that
        ``_teardown`` can always cut it, even while it waits for the answer."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._events = sock
        try:
            sock.connect(self.socket_path)
            conn = http.client.HTTPConnection("docker")
            conn.sock = sock
            query = urllib.parse.quote(json.dumps(filters))
            conn.request("GET", f"/v{API_VERSION}/events?filters={query}")
            response = conn.getresponse()
            if response.status != 200:
                raise OSError(f"events: HTTP {response.status}")
            for line in response:
                if line.strip():
                    yield json.loads(line)
                if self._stop.is_set():
                    return
        finally:
            self._events = None
            quiet_close(sock)


def _run_here(name: str, command: str, timeout: float) -> str:
    try:
        run = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise HostUnavailable(f"host {name}: {command!r} took longer than {timeout:g} s") from exc
    if run.returncode != 0:
        raise HostUnavailable(f"host {name}: {command!r} exited {run.returncode}: {run.stderr.strip()[:300]}")
    return run.stdout


def known_hosts_files(ssh_config) -> list[str]:
    """The known_hosts files an ssh_config entry names (UserKnownHostsFile,
    space-separated), or ~/.ssh/known_hosts as OpenSSH does."""
    names = str(ssh_config.get("userknownhostsfile") or "~/.ssh/known_hosts").split()
    return [os.path.expanduser(name) for name in names]


def fingerprint(key) -> str:
    """A host key's fingerprint as OpenSSH shows it: SHA256:<base64>."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _ping_failure(exc: BaseException, timeout: float) -> str:
    """A ping's failure in words."""
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "the connection was closed"
    return _reason(exc)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."


