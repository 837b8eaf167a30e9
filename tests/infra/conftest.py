"""testinfra fixtures: one host object per lab machine, over the ssh-config
that the Vagrantfile writes (.vagrant/ssh-config). Run `make up` first."""
import os
from pathlib import Path

import pytest
import testinfra

ROOT = Path(__file__).resolve().parents[2]
SSH_CONFIG = ROOT / ".vagrant" / "ssh-config"
PODS = {"light": ("pod-light", "10.42.1.0/24"),
        "medium": ("pod-medium", "10.42.2.0/24"),
        "heavy": ("pod-heavy", "10.42.3.0/24")}
MANAGER_ADDRESS = "192.168.56.10"

pytestmark = pytest.mark.lab


def _host(name):
    if not SSH_CONFIG.exists():
        pytest.fail(f"{SSH_CONFIG} is missing: bring the lab up with `make up`")
    return testinfra.get_host(f"paramiko://{name}", ssh_config=str(SSH_CONFIG), sudo=True)


@pytest.fixture(scope="session")
def manager():
    return _host("manager")


@pytest.fixture(scope="session", params=sorted(PODS), ids=lambda p: f"pod-{p}")
def pod(request):
    """(pod name, testinfra host, worker subnet) for each pod host in turn."""
    name, subnet = PODS[request.param][0], PODS[request.param][1]
    return request.param, _host(name), subnet


@pytest.fixture(scope="session", params=["manager", "pod-light", "pod-medium", "pod-heavy"])
def machine(request):
    return _host(request.param)


def pytest_configure(config):
    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
