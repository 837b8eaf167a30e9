"""A throwaway etcd for integration tests.

`etcd_endpoint` (session): starts /usr/bin/etcd on 127.0.0.1 with free client
and peer ports and a temporary data dir, waits until it answers, yields
(host, port), and kills it at the end. `etcd_process()` does the same for a
test that needs an etcd of its own (to freeze or kill it).

`store` (function): a `Store` under a unique prefix (/sctest-<uuid>/), so
tests never see each other's keys; the prefix is deleted afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import etcd3
import pytest

from orchestrator.edges.store import Store

from .fixtures_edges import free_port, stop_process

ETCD_BIN = os.environ.get("SIMPLECLOUD_ETCD_BIN", "/usr/bin/etcd")


def _wait_until_ready(host: str, port: int, proc: subprocess.Popen, log_path: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                raise RuntimeError(f"etcd exited with {proc.returncode}:\n{fh.read()[-3000:]}")
        client = etcd3.client(host=host, port=port, timeout=1)
        try:
            client.status()
            return
        except Exception:  # noqa: BLE001 - not up yet, whatever etcd3 raises for it: ask again
            time.sleep(0.1)
        finally:
            client.close()
    raise RuntimeError(f"etcd did not answer on {host}:{port} within {timeout}s; see {log_path}")


@pytest.fixture(scope="session")
def etcd_endpoint():
    with etcd_process() as (host, port, _proc):
        yield host, port


ETCD_FLAGS = ["--grpc-keepalive-min-time", "1s"]
"""As the lab's (roles/etcd): the store's channel pings every 2 s (edges/etcd_client.py)."""


@contextlib.contextmanager
def etcd_process(*flags: str):
    """A throwaway etcd of one's own: (host, port, process); killed on exit
    (tests that freeze or kill it use one of these, never the shared one).
    ``flags``: more of etcd's flags (e.g. "--quota-backend-bytes", "...")."""
    if not os.path.exists(ETCD_BIN):
        pytest.fail(f"{ETCD_BIN} not found: apt-get install etcd-server (or set SIMPLECLOUD_ETCD_BIN)")
    host = "127.0.0.1"
    client_port, peer_port = free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="sc-etcd-")
    log_path = os.path.join(tmp, "etcd.log")
    client_url, peer_url = f"http://{host}:{client_port}", f"http://{host}:{peer_port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [ETCD_BIN, "--name", "default", "--data-dir", os.path.join(tmp, "data"),
             "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", f"default={peer_url}", "--initial-cluster-state", "new",
             *ETCD_FLAGS, *flags],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(host, client_port, proc, log_path)
        yield host, client_port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)        # a frozen etcd would hold SIGTERM until then
        stop_process(proc)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def store(etcd_endpoint):
    host, port = etcd_endpoint
    prefix = f"/sctest-{uuid.uuid4().hex[:12]}/"
    s = Store(host=host, port=port, prefix=prefix)
    try:
        yield s
    finally:
        s.close()
        client = etcd3.client(host=host, port=port, timeout=5)
        try:
            client.delete_prefix(prefix)
        finally:
            client.close()
