#!/usr/bin/env python3
"""Bring your own machines: the lab's playbooks and orchestrator on machines
Vagrant did not make, then the testinfra suite against them (`make byo`).

    make byo INVENTORY=mylab/hosts.yml
    .venv/bin/python playbooks/byo.py mylab/hosts.yml [--no-tests]

INVENTORY is an Ansible inventory of machines reachable by SSH, with the
lab's groups (managers, etcd, pods, pod_<name>, spares) and per host
``ansible_host`` (and ``ansible_port``, ``ansible_user``,
``ansible_ssh_private_key_file`` where the defaults do not do), its
``lab_address`` (where the other machines reach it), and for a Docker host
its ``cloud_network_subnet`` and ``host_capacity``; ``lab_vip`` is a free
address on their network. inventory/byo/hosts.example.yml is one.

What it writes, beside the inventory in ``.simplecloud/`` (the lab's state
directory): ``ssh-config`` (a Host entry per machine from the inventory,
for testinfra and for you: ``ssh -F .simplecloud/ssh-config manager-1``) and
the `cloud` CLI's ``api``, ``token`` and ``ca.pem``: `cloud status` in the
inventory's directory talks to these machines.

Then: playbooks/site.yml through playbooks/provision.py with lab_provider
``byo`` (the admin account keeps its keys: nothing of Vagrant's is assumed),
and ``pytest tests/infra`` with the same inventory and state directory.
Exit code: 0 when both passed, 2 when provisioning failed, 3 when a test
failed, 1 for an inventory this cannot use (one line says what is missing).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))        # run as a script: playbooks/ is no installed package
from playbooks import provision  # noqa: E402
from playbooks.inventory import Inventory  # noqa: E402

STATE = ".simplecloud"     # beside the inventory


def problems(lab: Inventory) -> list[str]:
    """What the playbooks need of the inventory and it lacks, one line each."""
    found = []
    if not lab.managers:
        found.append("no host in group managers (one or three: each runs etcd, HAProxy and the orchestrator)")
    if not lab.docker_hosts:
        found.append("no host in group pods (the Docker hosts: groups pod_<name> and spares under pods)")
    if not lab.vip:
        found.append("no lab_vip: a free address on the machines' network for the entry point")
    for host in lab.machines:
        if not lab.hostvars[host].get("lab_address"):
            found.append(f"{host} has no lab_address (the address the other machines reach it on)")
    for host in lab.docker_hosts:
        for var in ("cloud_network_subnet", "host_capacity"):
            if not lab.hostvars[host].get(var):
                found.append(f"{host} has no {var} (every Docker host needs one)")
    if lab.hosts("etcd") != lab.managers:
        found.append("group etcd must be the managers (children: managers)")
    return found


def ssh_config(lab: Inventory, state: Path) -> str:
    """A Host entry per machine, from its ansible_* variables (what Ansible uses)."""
    entries = []
    for host in lab.machines:
        v = lab.hostvars[host]
        lines = [f"Host {host}", f"  HostName {v.get('ansible_host', host)}"]
        if v.get("ansible_port"):
            lines.append(f"  Port {v['ansible_port']}")
        if v.get("ansible_user"):
            lines.append(f"  User {v['ansible_user']}")
        if v.get("ansible_ssh_private_key_file"):
            lines += [f"  IdentityFile {Path(str(v['ansible_ssh_private_key_file'])).expanduser()}",
                      "  IdentitiesOnly yes"]
        lines += ["  StrictHostKeyChecking accept-new", f"  UserKnownHostsFile {state / 'known_hosts'}",
                  "  LogLevel ERROR"]
        entries.append("\n".join(lines) + "\n")
    return "".join(entries)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="byo", description=__doc__.split("\n\n")[0])
    p.add_argument("inventory", type=Path, help="the inventory of your machines (e.g. mylab/hosts.yml)")
    p.add_argument("--no-tests", action="store_true", help="provision only, no testinfra")
    args = p.parse_args(argv)
    inventory = args.inventory.resolve()
    if not inventory.is_file():
        print(f"byo: no inventory file {args.inventory}", file=sys.stderr)
        return 1
    lab = Inventory.load(inventory)
    missing = problems(lab)
    if missing:
        for line in missing:
            print(f"byo: {args.inventory}: {line}", file=sys.stderr)
        return 1
    state = inventory.parent / STATE
    state.mkdir(mode=0o700, exist_ok=True)
    (state / "ssh-config").write_text(ssh_config(lab, state))
    env = {"LAB_INVENTORY": str(inventory), "LAB_STATE_DIR": str(state), "LAB_PROVIDER": "byo"}
    os.environ.update(env)
    print(f"==> provision {len(lab.machines)} machines of {args.inventory} (Ansible's output: "
          f"{provision.LOG.relative_to(ROOT)})", flush=True)
    rc = provision.main(["-e", "lab_provider=byo"])
    if rc != 0:
        return 2
    if args.no_tests:
        return 0
    print(f"==> testinfra against them (tests/infra; their ssh-config: {state / 'ssh-config'})", flush=True)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/infra", "-q"],
                           cwd=ROOT, env=dict(os.environ, **env))
    if tests.returncode != 0:
        return 3
    print(f"your machines are a simplecloud: cd {inventory.parent} && {ROOT / '.venv/bin/cloud'} status")
    return 0


if __name__ == "__main__":
    sys.exit(main())
