"""Sockets listen where they should and nowhere else."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import LAB, VIP


def test_etcd_on_localhost(each_manager):
    _, host = each_manager
    assert host.socket("tcp://127.0.0.1:2379").is_listening


def test_etcd_on_lab_address(each_manager):
    name, host = each_manager
    assert host.socket(f"tcp://{LAB.address(name)}:2379").is_listening
    assert host.socket(f"tcp://{LAB.address(name)}:2380").is_listening      # its peers


def test_etcd_not_on_every_address(each_manager):
    _, host = each_manager
    assert not host.socket("tcp://0.0.0.0:2379").is_listening
    assert not host.socket("tcp://0.0.0.0:2380").is_listening


@pytest.mark.single_host
def test_no_docker_tcp_socket(machine):
    listening = machine.socket.get_listening_sockets()
    assert not [s for s in listening if s.endswith((":2375", ":2376"))]


@pytest.mark.single_host
def test_docker_unix_socket(machine):
    assert machine.socket("unix:///run/docker.sock").is_listening


def test_haproxy_frontend(each_manager):
    _, host = each_manager
    assert host.socket("tcp://0.0.0.0:80").is_listening


def test_haproxy_api_tls_on_the_lab_address_and_the_virtual_ip(each_manager):
    """The API's TLS listener binds the virtual IP on every manager, also where
    it is not (ip_nonlocal_bind): it serves as soon as the address arrives."""
    name, host = each_manager
    assert host.socket(f"tcp://{LAB.address(name)}:5443").is_listening
    assert host.socket(f"tcp://{VIP}:5443").is_listening
    assert host.check_output("sysctl -n net.ipv4.ip_nonlocal_bind") == "1"


def test_haproxy_stats_on_localhost_only(each_manager):
    _, host = each_manager
    assert host.socket("tcp://127.0.0.1:8404").is_listening
    assert not host.socket("tcp://0.0.0.0:8404").is_listening


def test_haproxy_exporter_serves_the_backends(manager):
    """HAProxy's Prometheus exporter on the stats listener (docs/metrics.md)."""
    text = manager.check_output("curl -fsS http://127.0.0.1:8404/metrics")
    names = {s.name for f in text_string_to_metric_families(text + "\n") for s in f.samples}
    assert {"haproxy_frontend_http_requests_total", "haproxy_backend_http_requests_total"} <= names


def test_registry_on_every_address(each_manager):
    """Read-only on 5050 for everyone (the lab address and the virtual IP);
    the push side on 5051, guarded by iptables (test_security.py)."""
    _, host = each_manager
    assert host.socket("tcp://0.0.0.0:5050").is_listening
    assert host.socket("tcp://0.0.0.0:5051").is_listening


@pytest.mark.parametrize("path", ["/run/haproxy/admin.sock", "/run/haproxy-master.sock"])
def test_haproxy_sockets_are_for_root_and_the_admin_group(each_manager, path):
    _, host = each_manager
    socket = host.file(path)
    assert (socket.mode, socket.user, socket.group) == (0o660, "root", "haproxy-admin")
