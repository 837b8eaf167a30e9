"""A real sshd (and a second, stallable dockerd) for the host-link tests.

``sshd`` (session): /usr/sbin/sshd on 127.0.0.1 with a fresh host key and a
fresh client key, root login by key only, in a temp dir; ``ssh_config`` names
it ``linktest`` and its known_hosts records its host key (StrictHostKeyChecking
yes), as provisioning does for the pod hosts. ``rekeyed_sshd`` (function): the
same, but its known_hosts records another key (the host's key changed). The
host link reaches the local dockerd through it exactly as the manager reaches
a pod host (Fabric, one channel per Docker connection, ``socat`` to the Docker
socket).

``SshServer.stall()``/``resume()`` SIGSTOP/SIGCONT the listener and every
session process of this sshd: a host that froze.

``spare_dockerd`` (function): a second real dockerd with its own data root
and socket, in a network namespace of its own (no iptables), for a test that
freezes an engine without touching the one every other test uses;
``spare_engine()`` is the same as a context manager (fixtures_pools.py
routes to it and makes it a second host of a pod).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from .fixtures_edges import free_port, stop_process

SSHD = "/usr/sbin/sshd"


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@dataclass
class SshServer:
    port: int
    alias: str              # Host name in ssh_config
    ssh_config: str         # path of an ssh_config that reaches it
    key: str
    proc: subprocess.Popen
    workdir: Path
    known_hosts: str        # the known_hosts file ssh_config names (StrictHostKeyChecking yes)

    def _signal(self, sig) -> None:
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def stall(self) -> None:
        """Freeze the server and every session it runs (a hung host)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def record_host_key(server: SshServer, public_key: Path) -> None:
    """Write ``public_key`` as the server's only entry in its known_hosts (what
    provisioning does for the pod hosts)."""
    Path(server.known_hosts).write_text(f"[127.0.0.1]:{server.port} {public_key.read_text().strip()}\n")


@contextlib.contextmanager
def running_sshd(alias: str, recorded: str = "hostkey"):
    """An sshd on a free 127.0.0.1 port with a fresh host key, and an
    ssh_config naming it ``alias`` whose known_hosts (StrictHostKeyChecking
    yes) records the public key ``recorded``: its own ("hostkey"), or
    another one ("oldkey": the host's key changed since it was recorded)."""
    if not os.path.exists(SSHD):
        pytest.fail(f"{SSHD} not found: apt-get install openssh-server (make deps does)")
    if not shutil.which("socat"):
        pytest.fail("socat not found: apt-get install socat (make deps does)")
    workdir = Path(tempfile.mkdtemp(prefix="sc-sshd-"))
    os.chmod(workdir, 0o700)
    for name in ("hostkey", "oldkey", "key"):
        _keygen(workdir / name)
    shutil.copy(workdir / "key.pub", workdir / "authorized_keys")
    port = free_port()
    (workdir / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {workdir}/hostkey\n"
        f"AuthorizedKeysFile {workdir}/authorized_keys\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\n"
        f"UsePAM no\nMaxSessions 100\nMaxStartups 100\nPidFile {workdir}/sshd.pid\n")
    ssh_config = workdir / "ssh_config"
    ssh_config.write_text(f"Host {alias}\n    HostName 127.0.0.1\n    Port {port}\n    User root\n"
                          f"    IdentityFile {workdir}/key\n    IdentitiesOnly yes\n"
                          f"    StrictHostKeyChecking yes\n    UserKnownHostsFile {workdir}/known_hosts\n")
    os.makedirs("/run/sshd", exist_ok=True)          # sshd's privilege separation directory
    log = open(workdir / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(workdir / "sshd_config")],
                            stdout=log, stderr=subprocess.STDOUT)
    server = SshServer(port, alias, str(ssh_config), str(workdir / "key"), proc, workdir,
                       str(workdir / "known_hosts"))
    try:
        record_host_key(server, workdir / "hostkey.pub")     # OpenSSH checks it too
        deadline = time.monotonic() + 10
        while subprocess.run(["ssh", "-F", str(ssh_config), "-o", "BatchMode=yes", alias, "true"],
                             capture_output=True).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("sshd did not start:\n" + (workdir / "sshd.log").read_text())
            time.sleep(0.1)
        record_host_key(server, workdir / f"{recorded}.pub")
        yield server
    finally:
        server.resume()
        stop_process(proc, timeout=5)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd():
    with running_sshd("linktest") as server:
        yield server


@pytest.fixture
def rekeyed_sshd():
    """An sshd whose host key is not the one its known_hosts records."""
    with running_sshd("rekeyed", recorded="oldkey") as server:
        yield server


def _accepts(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


@dataclass
class SpareEngine:
    socket: str
    pid: int

    def stall(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


@pytest.fixture
def spare_dockerd():
    with spare_engine() as engine:
        yield engine


@contextlib.contextmanager
def spare_engine():
    """A second dockerd in a network namespace of its own (see the module docstring)."""
    workdir = Path(tempfile.mkdtemp(prefix="sc-d2-"))
    sock = workdir / "docker.sock"
    log = open(workdir / "dockerd.log", "w")
    # Its own network namespace (unshare --net): its docker0, routes and
    # iptables can never touch this machine's engine. (Never "--bridge none"
    # on the host: dockerd then deletes the host's docker0 interface.)
    proc = subprocess.Popen(["unshare", "--net", "--", "dockerd", "--data-root", str(workdir / "data"),
                             "--exec-root", str(workdir / "exec"), "-H", f"unix://{sock}",
                             "--pidfile", str(workdir / "docker.pid"), "--iptables=false",
                             "--ip6tables=false"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    engine = SpareEngine(str(sock), proc.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            if not _accepts(str(sock)):      # docker-py leaks the socket of a failed unix connect
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the spare dockerd did not start:\n" + (workdir / "dockerd.log").read_text())
                time.sleep(0.2)
                continue
            client = docker.DockerClient(base_url=f"unix://{sock}", timeout=2, version="1.41")
            try:
                client.ping()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the spare dockerd did not start:\n" + (workdir / "dockerd.log").read_text())
                time.sleep(0.2)
            finally:
                client.close()
        yield engine
    finally:
        engine.resume()
        stop_process(proc, timeout=15, group=True)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
