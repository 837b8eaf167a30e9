"""Sockets listen where they should and nowhere else."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import MANAGER_ADDRESS


def test_etcd_on_localhost(manager):
    assert manager.socket("tcp://127.0.0.1:2379").is_listening


def test_etcd_on_lab_address(manager):
    assert manager.socket(f"tcp://{MANAGER_ADDRESS}:2379").is_listening


def test_etcd_not_on_every_address(manager):
    assert not manager.socket("tcp://0.0.0.0:2379").is_listening


@pytest.mark.single_host
def test_no_docker_tcp_socket(machine):
    listening = machine.socket.get_listening_sockets()
    assert not [s for s in listening if s.endswith((":2375", ":2376"))]


@pytest.mark.single_host
def test_docker_unix_socket(machine):
    assert machine.socket("unix:///run/docker.sock").is_listening


def test_haproxy_frontend(manager):
    assert manager.socket("tcp://0.0.0.0:80").is_listening


def test_haproxy_stats_on_localhost_only(manager):
    assert manager.socket("tcp://127.0.0.1:8404").is_listening
    assert not manager.socket("tcp://0.0.0.0:8404").is_listening


def test_haproxy_exporter_serves_the_backends(manager):
    """HAProxy's Prometheus exporter on the stats listener (docs/metrics.md)."""
    text = manager.check_output("curl -fsS http://127.0.0.1:8404/metrics")
    names = {s.name for f in text_string_to_metric_families(text + "\n") for s in f.samples}
    assert {"haproxy_frontend_http_requests_total", "haproxy_backend_http_requests_total"} <= names


def test_registry_on_lab_address(manager):
    assert manager.socket(f"tcp://{MANAGER_ADDRESS}:5050").is_listening


@pytest.mark.parametrize("path", ["/run/haproxy/admin.sock", "/run/haproxy-master.sock"])
def test_haproxy_sockets_are_for_root_and_the_admin_group(manager, path):
    socket = manager.file(path)
    assert (socket.mode, socket.user, socket.group) == (0o660, "root", "haproxy-admin")
