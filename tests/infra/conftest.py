"""testinfra fixtures: one host object per lab machine, over the ssh-config
of the lab's state directory (.vagrant/ssh-config, which the Vagrantfile
writes). Run `make up` first.

The machines, their groups and variables come from the lab's inventory
through Ansible's own inventory code (playbooks/inventory.py), the
ssh-config and keys from the state directory; both as playbooks/provision.py
finds them (LAB_INVENTORY, the provider's inventory in lab.yml, or
inventory/hosts.yml; LAB_STATE_DIR, VAGRANT_DOTFILE_PATH, or .vagrant).
`make test-vm` points both at its lone pod-host VM and runs the
`single_host` tests; `make byo` at machines you bring (LAB_PROVIDER=byo)."""
import os
from pathlib import Path

import pytest
import testinfra

from playbooks.inventory import Inventory
from playbooks.provision import client_dir, lab_paths

ROOT = Path(__file__).resolve().parents[2]
INVENTORY, STATE_DIR = lab_paths()
SSH_CONFIG = STATE_DIR / "ssh-config"
# Machines made by Vagrant (their first key was Vagrant's insecure one), or
# machines someone brought (make byo).
BYO = os.environ.get("LAB_PROVIDER") == "byo"
# Where provisioning wrote the CLI's files (api, token, ca.pem): .simplecloud
# of the checkout; for machines you bring, their state directory.
CLIENT_DIR = client_dir()

pytestmark = pytest.mark.lab

LAB = Inventory.load(INVENTORY)
MACHINES = LAB.machines
MANAGERS = LAB.managers
DOCKER_HOSTS = LAB.docker_hosts           # every host that can run workers: pod hosts and spares
MANAGER_ADDRESS = LAB.address(MANAGERS[0]) if MANAGERS else None
VIP = LAB.vip


def _host(name):
    if not SSH_CONFIG.exists():
        pytest.fail(f"{SSH_CONFIG} is missing: bring the lab up with `make up`")
    # Machines you brought (`make byo`) are reached with OpenSSH, which keeps the host keys
    # Ansible pinned on its first connection (UserKnownHostsFile in their ssh-config);
    # paramiko through testinfra reads no known_hosts file and only warns.
    backend = "ssh" if BYO else "paramiko"
    return testinfra.get_host(f"{backend}://{name}", ssh_config=str(SSH_CONFIG), sudo=True)


@pytest.fixture(scope="session")
def manager():
    """The first manager (the one that keeps the lab CA and builds the job images)."""
    if not MANAGERS:
        pytest.fail(f"this lab has no manager ({INVENTORY}): run only the single_host tests here")
    return _host(MANAGERS[0])


@pytest.fixture(scope="session", params=MANAGERS)
def each_manager(request):
    """(name, testinfra host) of each manager in turn."""
    return request.param, _host(request.param)


@pytest.fixture(scope="session", params=DOCKER_HOSTS)
def pod(request):
    """(host name, testinfra host, worker subnet) for each Docker host in turn:
    every pod's hosts and the spares."""
    return request.param, _host(request.param), LAB.subnet(request.param)


@pytest.fixture(scope="session", params=MACHINES)
def machine(request):
    return _host(request.param)


def pytest_configure(config):
    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
