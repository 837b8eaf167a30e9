"""testinfra fixtures: one host object per lab machine, over the ssh-config
that the Vagrantfile writes (.vagrant/ssh-config). Run `make up` first.

The machines, their groups and addresses come from the lab's inventory
(inventory/hosts.yml, or LAB_INVENTORY), the ssh-config and keys from
Vagrant's state directory (.vagrant, or VAGRANT_DOTFILE_PATH): `make test-vm`
points both at its lone pod-host VM and runs the `single_host` tests."""
import os
from pathlib import Path

import pytest
import testinfra
import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / (os.environ.get("LAB_INVENTORY") or "inventory/hosts.yml")
STATE_DIR = ROOT / (os.environ.get("VAGRANT_DOTFILE_PATH") or ".vagrant")
SSH_CONFIG = STATE_DIR / "ssh-config"

pytestmark = pytest.mark.lab


def inventory_machines(path: Path) -> dict[str, dict]:
    """Every host of an Ansible YAML inventory: its groups (nested children
    included) and vars (inline, then host_vars/NAME.yml), like the Vagrantfile."""
    hosts: dict[str, dict] = {}

    def walk(group, node, chain):
        node, chain = node or {}, chain + [group]
        for name, inline in (node.get("hosts") or {}).items():
            entry = hosts.setdefault(name, {"groups": [], **(inline or {})})
            entry["groups"] += [g for g in chain if g != "all" and g not in entry["groups"]]
        for child, sub in (node.get("children") or {}).items():
            walk(child, sub, chain)

    walk("all", yaml.safe_load(path.read_text())["all"], [])
    for name, entry in hosts.items():
        host_vars = path.parent / "host_vars" / f"{name}.yml"
        if host_vars.exists():
            entry.update(yaml.safe_load(host_vars.read_text()) or {})
    return hosts


MACHINES = inventory_machines(INVENTORY)
MANAGERS = [name for name, vars_ in MACHINES.items() if "manager" in vars_["groups"]]
# pod name (light, medium, heavy) -> (pod host, its workers' subnet)
PODS = {vars_["pod_name"]: (name, vars_["cloud_network_subnet"])
        for name, vars_ in MACHINES.items() if "pods" in vars_["groups"]}
MANAGER_ADDRESS = MACHINES[MANAGERS[0]]["lab_address"] if MANAGERS else None


def _host(name):
    if not SSH_CONFIG.exists():
        pytest.fail(f"{SSH_CONFIG} is missing: bring the lab up with `make up`")
    return testinfra.get_host(f"paramiko://{name}", ssh_config=str(SSH_CONFIG), sudo=True)


@pytest.fixture(scope="session")
def manager():
    if not MANAGERS:
        pytest.fail(f"this lab has no manager ({INVENTORY}): run only the single_host tests here")
    return _host(MANAGERS[0])


@pytest.fixture(scope="session", params=sorted(PODS), ids=lambda p: f"pod-{p}")
def pod(request):
    """(pod name, testinfra host, worker subnet) for each pod host in turn."""
    name, subnet = PODS[request.param][0], PODS[request.param][1]
    return request.param, _host(name), subnet


@pytest.fixture(scope="session", params=list(MACHINES))
def machine(request):
    return _host(request.param)


def pytest_configure(config):
    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
