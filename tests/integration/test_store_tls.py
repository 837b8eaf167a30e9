"""The Store over etcd with TLS and client certificates, as in the lab.

The certificates come from the etcd role's own PKI script
(roles/etcd/templates/simplecloud-pki.j2), rendered for one member on
127.0.0.1, so this also checks what the lab runs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from orchestrator.core.errors import Unavailable
from orchestrator.core.model import Pod
from orchestrator.edges.store import Store
from orchestrator.settings import EtcdSettings, Settings

from .fixtures_edges import stop_process
from .fixtures_etcd import ETCD_BIN, free_port
from .lab_pki import make_pki

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def tls_etcd():
    """An etcd that wants TLS and a client certificate; yields (port, pki directory)."""
    tmp = tempfile.mkdtemp(prefix="sc-etcd-tls-")
    pki = os.path.join(tmp, "pki")
    make_pki(pki)
    port, peer = free_port(), free_port()
    url, peer_url = f"https://127.0.0.1:{port}", f"http://127.0.0.1:{peer}"
    with open(os.path.join(tmp, "etcd.log"), "wb") as log:
        proc = subprocess.Popen(
            [ETCD_BIN, "--name", "default", "--data-dir", os.path.join(tmp, "data"),
             "--listen-client-urls", url, "--advertise-client-urls", url,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", f"default={peer_url}",
             "--cert-file", f"{pki}/etcd-default.pem", "--key-file", f"{pki}/etcd-default.key",
             "--trusted-ca-file", f"{pki}/ca.pem", "--client-cert-auth"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        settings = tls_settings(port, pki)
        store = _connect_when_ready(settings, proc)
        store.close()
        yield port, pki
    finally:
        stop_process(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def tls_settings(port: int, pki: str, **overrides) -> EtcdSettings:
    values = dict(etcd_port=port, etcd_prefix="/tls-test/", etcd_ca_file=f"{pki}/ca.pem",
                  etcd_cert_file=f"{pki}/client-orchestrator.pem",
                  etcd_key_file=f"{pki}/client-orchestrator.key")
    values.update(overrides)
    return Settings.of(**values).etcd


def _connect_when_ready(settings: EtcdSettings, proc: subprocess.Popen, timeout: float = 20.0) -> Store:
    """Poll until etcd has started (as fixtures_etcd does for the plain one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"etcd exited with {proc.returncode}")
        try:
            return Store.from_settings(settings)
        except Unavailable:
            time.sleep(0.1)
    raise RuntimeError(f"etcd with TLS did not answer within {timeout}s")


def test_store_works_with_the_orchestrator_certificate(tls_etcd):
    port, pki = tls_etcd
    store = Store.from_settings(tls_settings(port, pki))
    try:
        store.put_pod(Pod(name="p", hosts=("h",), max_nodes=2, cpus=0.5, memory_mb=64), create=True)
        assert store.get_pod("p").max_nodes == 2
    finally:
        store.close()


def test_plain_http_is_refused(tls_etcd):
    port, _ = tls_etcd
    with pytest.raises(Unavailable):
        Store("127.0.0.1", port, prefix="/tls-test/", timeout=2)


def test_a_certificate_from_another_ca_is_refused(tls_etcd, tmp_path):
    port, pki = tls_etcd
    stranger = str(tmp_path / "other")
    make_pki(stranger)                      # a CA of its own: etcd does not trust it
    settings = tls_settings(port, pki, etcd_cert_file=f"{stranger}/client-orchestrator.pem",
                            etcd_key_file=f"{stranger}/client-orchestrator.key")
    with pytest.raises(Unavailable):
        Store("127.0.0.1", port, prefix="/tls-test/", timeout=2,
              tls=(settings.etcd_ca_file, settings.etcd_cert_file, settings.etcd_key_file))


def test_half_a_tls_setting_is_an_error():
    with pytest.raises(ValueError, match="etcd TLS needs all of"):
        Store.from_settings(Settings.of(etcd_ca_file="/x/ca.pem").etcd)
