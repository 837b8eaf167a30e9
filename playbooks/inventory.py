"""The lab's machines as its inventory says, read by Ansible's own inventory
code: every group with its hosts (nested children flattened), and each host's
variables (inline, host_vars/ and group_vars/), exactly what the playbooks
see. For the tests (tests/infra, tests/lab), bench/ and playbooks/byo.py.

    lab = Inventory.load(Path("inventory/hosts.yml"))
    lab.managers            # ['manager-1', 'manager-2', 'manager-3']
    lab.pods                # {'light': ['pod-light-1', 'pod-light-2'], 'medium': [...], ...}
    lab.address("spare-1")  # '192.168.56.15'
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MAGIC = {"ansible_facts", "group_names", "inventory_dir", "inventory_file", "inventory_hostname",
          "inventory_hostname_short"}


@dataclass(frozen=True)
class Inventory:
    path: Path
    groups: dict[str, list[str]]            # group -> its hosts, in inventory order
    hostvars: dict[str, dict[str, Any]]     # host -> its variables (no Ansible magic ones)

    @classmethod
    def load(cls, path: Path) -> Inventory:
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager

        loader = DataLoader()
        inventory = InventoryManager(loader=loader, sources=[str(path)])
        variables = VariableManager(loader=loader, inventory=inventory)
        magic = set(variables.get_vars()) | _MAGIC
        hostvars = {}
        for host in inventory.get_hosts():
            every = variables.get_vars(host=host)
            hostvars[host.name] = {k: v for k, v in every.items() if k not in magic}
        groups = {g: list(hosts) for g, hosts in inventory.get_groups_dict().items()}
        return cls(path, groups, hostvars)

    def hosts(self, group: str) -> list[str]:
        return list(self.groups.get(group, []))

    @property
    def machines(self) -> list[str]:
        return self.hosts("all")

    @property
    def managers(self) -> list[str]:
        return self.hosts("managers")

    @property
    def docker_hosts(self) -> list[str]:
        """Every host that can run workers: the pods' hosts and the spares (group ``pods``)."""
        return self.hosts("pods")

    @property
    def spares(self) -> list[str]:
        return self.hosts("spares")

    @property
    def pods(self) -> dict[str, list[str]]:
        """Pod name -> its hosts (groups ``pod_<name>``; empty ones left out)."""
        return {g.removeprefix("pod_"): hosts for g, hosts in self.groups.items()
                if g.startswith("pod_") and hosts}

    def pod_of(self, host: str) -> str | None:
        return next((pod for pod, hosts in self.pods.items() if host in hosts), None)

    def address(self, host: str) -> str:
        return self.hostvars[host]["lab_address"]

    def subnet(self, host: str) -> str:
        return self.hostvars[host].get("cloud_network_subnet", "")

    @property
    def vip(self) -> str:
        """The entry point's virtual IP (lab_vip), "" when the lab has none."""
        return next((v["lab_vip"] for v in self.hostvars.values() if v.get("lab_vip")), "")
