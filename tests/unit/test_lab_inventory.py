"""The lab's inventories as the playbooks see them (playbooks/inventory.py, through
Ansible's own inventory code), and what `make byo` asks of yours (playbooks/byo.py)."""
import textwrap
from pathlib import Path

import pytest

from playbooks import byo
from playbooks.inventory import Inventory

ROOT = Path(__file__).resolve().parents[2]


def test_the_container_lab_three_managers_a_pool_of_two_and_a_spare():
    lab = Inventory.load(ROOT / "inventory" / "hosts.yml")
    assert lab.managers == ["manager-1", "manager-2", "manager-3"] == lab.hosts("etcd")
    assert lab.pods == {"light": ["pod-light-1", "pod-light-2"], "medium": ["pod-medium-1"],
                        "heavy": ["pod-heavy-1"]}
    assert lab.spares == ["spare-1"] and lab.pod_of("spare-1") is None
    assert sorted(lab.docker_hosts) == sorted(lab.hosts("pod_light") + ["pod-medium-1", "pod-heavy-1", "spare-1"])
    assert lab.vip == "192.168.56.100"
    # capacity by group (group_vars), a spare like a light host
    capacity = {h: lab.hostvars[h]["host_capacity"] for h in lab.docker_hosts}
    assert capacity["pod-light-2"] == capacity["spare-1"] == {"nodes": 20, "cpus": 5.0, "memory_mb": 2560}
    assert capacity["pod-medium-1"] == {"nodes": 15, "cpus": 7.5, "memory_mb": 3840}
    assert capacity["pod-heavy-1"] == {"nodes": 10, "cpus": 10.0, "memory_mb": 5120}
    # one address, SSH port and worker subnet each
    for var in ("lab_address", "lab_ssh_port"):
        values = [lab.hostvars[h][var] for h in lab.machines]
        assert len(set(values)) == len(values) == 8, var
    subnets = [lab.subnet(h) for h in lab.docker_hosts]
    assert len(set(subnets)) == len(subnets) and all(s.startswith("10.42.") for s in subnets)
    assert byo.problems(lab) == []


def test_the_vm_lab_is_smaller_with_the_same_groups():
    """Under TCG: one manager, one host per pod (inventory/vm.yml, lab.yml's libvirt.inventory)."""
    vm, full = Inventory.load(ROOT / "inventory" / "vm.yml"), Inventory.load(ROOT / "inventory" / "hosts.yml")
    assert vm.managers == ["manager-1"] and vm.spares == []
    assert vm.pods == {pod: hosts[:1] for pod, hosts in full.pods.items()}
    for host in vm.machines:
        assert vm.hostvars[host] == full.hostvars[host], host
    assert byo.problems(vm) == []


def test_the_example_of_your_own_machines_is_complete():
    assert byo.problems(Inventory.load(ROOT / "inventory" / "byo" / "hosts.example.yml")) == []


@pytest.fixture
def mine(tmp_path):
    def write(text):
        path = tmp_path / "hosts.yml"
        path.write_text(textwrap.dedent(text))
        return Inventory.load(path)
    return write


def test_what_byo_asks_of_your_inventory(mine):
    lab = mine("""\
        all:
          children:
            managers:
              hosts:
                cp: {ansible_host: 10.0.0.10}
            pods:
              children:
                pod_light:
                  hosts:
                    w: {ansible_host: 10.0.0.20, lab_address: 10.0.0.20}
        """)
    assert byo.problems(lab) == [
        "no lab_vip: a free address on the machines' network for the entry point",
        "cp has no lab_address (the address the other machines reach it on)",
        "w has no cloud_network_subnet (every Docker host needs one)",
        "w has no host_capacity (every Docker host needs one)",
        "group etcd must be the managers (children: managers)"]
    assert byo.problems(mine("all: {hosts: {x: {lab_address: 1.2.3.4}}, vars: {lab_vip: 1.2.3.5}}")) == [
        "no host in group managers (one or three: each runs etcd, HAProxy and the orchestrator)",
        "no host in group pods (the Docker hosts: groups pod_<name> and spares under pods)"]


def test_the_ssh_config_comes_from_ansibles_variables(mine, tmp_path):
    lab = mine("""\
        all:
          vars: {ansible_user: admin}
          hosts:
            a: {ansible_host: 10.0.0.10, ansible_port: 2222, ansible_ssh_private_key_file: /k/id}
            b: {}
        """)
    assert byo.ssh_config(lab, tmp_path) == (
        "Host a\n  HostName 10.0.0.10\n  Port 2222\n  User admin\n  IdentityFile /k/id\n  IdentitiesOnly yes\n"
        f"  StrictHostKeyChecking accept-new\n  UserKnownHostsFile {tmp_path}/known_hosts\n  LogLevel ERROR\n"
        "Host b\n  HostName b\n  User admin\n"
        f"  StrictHostKeyChecking accept-new\n  UserKnownHostsFile {tmp_path}/known_hosts\n  LogLevel ERROR\n")
