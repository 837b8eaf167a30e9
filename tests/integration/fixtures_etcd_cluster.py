"""A real 3-member etcd cluster on 127.0.0.1 for the HA tests.

``etcd_cluster`` (function): three /usr/bin/etcd processes (members m0, m1,
m2) with free client and peer ports and their own data dirs, as the lab's
three managers run them (kubeadm's stacked etcd, without TLS here). Each test
gets a fresh cluster, because the tests stop, freeze and restart members.

``EtcdCluster.stop(i)`` / ``start(i)`` (rejoins with its data),
``freeze(i)`` / ``thaw(i)`` (SIGSTOP/SIGCONT), ``endpoints(first=i)``.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import etcd3
import pytest

from .fixtures_edges import free_port, stop_process
from .fixtures_etcd import ETCD_BIN

# the lab's etcd timing (roles/etcd): heartbeat 100 ms, election 1 s
ETCD_FLAGS = ["--heartbeat-interval", "100", "--election-timeout", "1000",
              "--grpc-keepalive-min-time", "1s"]


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: str
    log_path: str
    proc: subprocess.Popen | None = None


@dataclass
class EtcdCluster:
    members: list[Member]
    tmp: str
    initial: str = ""
    started: list[int] = field(default_factory=list)

    def endpoints(self, first: int = 0) -> list[tuple[str, int]]:
        """Every member's client endpoint, member ``first`` first (as a manager lists its own)."""
        order = self.members[first:] + self.members[:first]
        return [("127.0.0.1", m.client_port) for m in order]

    def start(self, i: int, state: str = "existing") -> None:
        m = self.members[i]
        url_c, url_p = f"http://127.0.0.1:{m.client_port}", f"http://127.0.0.1:{m.peer_port}"
        log = open(m.log_path, "ab")
        m.proc = subprocess.Popen(
            [ETCD_BIN, "--name", m.name, "--data-dir", m.data_dir,
             "--listen-client-urls", url_c, "--advertise-client-urls", url_c,
             "--listen-peer-urls", url_p, "--initial-advertise-peer-urls", url_p,
             "--initial-cluster", self.initial, "--initial-cluster-state", state,
             "--initial-cluster-token", "sctest", *ETCD_FLAGS],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop(self, i: int) -> None:
        m = self.members[i]
        if m.proc is not None:
            m.proc.send_signal(signal.SIGCONT)
            stop_process(m.proc)
            m.proc = None

    def freeze(self, i: int) -> None:
        self.members[i].proc.send_signal(signal.SIGSTOP)

    def thaw(self, i: int) -> None:
        self.members[i].proc.send_signal(signal.SIGCONT)

    def wait_healthy(self, indexes=(0, 1, 2), timeout: float = 30.0) -> None:
        """Until each named member answers a status with a leader known."""
        deadline = time.monotonic() + timeout
        for i in indexes:
            m = self.members[i]
            while True:
                client = etcd3.client(host="127.0.0.1", port=m.client_port, timeout=1)
                try:
                    if client.status().leader is not None:
                        break
                except Exception:  # noqa: BLE001 - not up yet
                    pass
                finally:
                    client.close()
                if m.proc is not None and m.proc.poll() is not None:
                    raise RuntimeError(f"etcd {m.name} exited:\n{open(m.log_path).read()[-3000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"etcd {m.name} not healthy in {timeout}s; see {m.log_path}")
                time.sleep(0.1)


@pytest.fixture
def etcd_cluster():
    if not os.path.exists(ETCD_BIN):
        pytest.fail(f"{ETCD_BIN} not found: apt-get install etcd-server (or set SIMPLECLOUD_ETCD_BIN)")
    tmp = tempfile.mkdtemp(prefix="sc-etcd3-")
    members = [Member(f"m{i}", free_port(), free_port(), os.path.join(tmp, f"m{i}"),
                      os.path.join(tmp, f"m{i}.log")) for i in range(3)]
    cluster = EtcdCluster(members, tmp)
    cluster.initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in members)
    try:
        for i in range(3):
            cluster.start(i, state="new")
        cluster.wait_healthy()
        yield cluster
    finally:
        for i in range(3):
            cluster.stop(i)
        shutil.rmtree(tmp, ignore_errors=True)
