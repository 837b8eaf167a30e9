#!/usr/bin/env python3
"""`make test-byo`: bring-your-own machines, simulated. Two machines are
started outside Vagrant (plain `docker run` of the lab's machine image with
the Vagrantfile's flags, on a network of their own, 192.168.57.0/24, so it
runs beside the lab), given an admin account key of their own (not Vagrant's),
described by an inventory written here, then `playbooks/byo.py` provisions
them and runs tests/infra against them, as `make byo INVENTORY=...` would for
a user's machines. The machines, their volumes and network are removed
afterwards, pass or fail.

What it covers: the playbooks on machines Vagrant did not make (no
.vagrant state, no Vagrant key, a VIP of another network, inline host
variables, ansible_host/ansible_user/ansible_ssh_private_key_file), one
manager and one pod host: a cluster of one manager (etcd of one member, the
VIP always on it). What it leaves out: several managers (the lab's tests
cover those) and real VMs (make test-vm).

    .venv/bin/python tests/byo/simulate.py [--keep]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from playbooks import byo  # noqa: E402

IMAGE = yaml.safe_load((ROOT / "lab.yml").read_text())["docker"]["image"]
NETWORK, SUBNET, PREFIX = "simplecloud-byo", "192.168.57.0/24", "192.168.57"
WORK = ROOT / ".simplecloud" / "byo-sim"          # its inventory; its state in WORK/.simplecloud
LABEL = "simplecloud.byo=1"
# The Vagrantfile's MACHINE_CONTAINER_ARGS (a container that acts like a
# machine: systemd and its own dockerd; --privileged fails on these hosts).
# tests/lab/test_vagrantfile.py checks that every one of them is the Vagrantfile's.
MACHINE_ARGS = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
                "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp", "-e", "container=docker"]
# name -> (address, manager?)
MACHINES = {"byo-manager-1": (f"{PREFIX}.10", True), "byo-light-1": (f"{PREFIX}.11", False)}


def docker(*args: str, check: bool = True) -> str:
    run = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and run.returncode != 0:
        raise SystemExit(f"test-byo: docker {' '.join(args[:3])} ...: {run.stderr.strip()}")
    return run.stdout.strip()


def remove() -> None:
    """Every machine, volume and network of the simulation (also a killed run's)."""
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).split()
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)
    for name in MACHINES:
        docker("volume", "rm", "-f", f"simplecloud-{name}-docker", check=False)
    docker("network", "rm", NETWORK, check=False)


def start(key: Path) -> None:
    docker("network", "create", "--subnet", SUBNET, "--label", LABEL, "--label", "simplecloud.test=1", NETWORK)
    public = key.with_suffix(".pub").read_text().strip()
    for name, (address, manager) in MACHINES.items():
        docker("run", "-d", "--name", f"simplecloud-{name}", "-h", name, *MACHINE_ARGS,
               "--label", LABEL, "--label", "simplecloud.test=1",
               "-v", f"simplecloud-{name}-docker:/var/lib/docker", "--network", NETWORK, "--ip", address,
               *(["--sysctl", "net.ipv4.ip_nonlocal_bind=1"] if manager else []), IMAGE)
    # an admin account of the user's own: the image's `vagrant` (sudo), with this key only
    for name in MACHINES:
        docker("exec", f"simplecloud-{name}", "sh", "-c",
               f"echo '{public}' > /home/vagrant/.ssh/authorized_keys")
    deadline = time.monotonic() + 60
    for name, (address, _) in MACHINES.items():
        while subprocess.run(["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                              "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=2",
                              f"vagrant@{address}", "true"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"test-byo: {name} ({address}) did not answer SSH within 60 s")
            time.sleep(1)


def inventory(key: Path) -> str:
    manager, pod = MACHINES
    return textwrap.dedent(f"""\
        # Written by tests/byo/simulate.py: two machines started outside Vagrant.
        all:
          vars:
            lab_vip: {PREFIX}.100
            ansible_user: vagrant
            ansible_ssh_private_key_file: {key}
          children:
            managers:
              hosts:
                {manager}: {{ansible_host: {MACHINES[manager][0]}, lab_address: {MACHINES[manager][0]}}}
            etcd:
              children:
                managers:
            pods:
              children:
                pod_light:
                  hosts:
                    {pod}:
                      ansible_host: {MACHINES[pod][0]}
                      lab_address: {MACHINES[pod][0]}
                      cloud_network_subnet: 10.42.1.0/24
                      host_capacity: {{nodes: 20, cpus: 5.0, memory_mb: 2560}}
        """)


def main() -> int:
    p = argparse.ArgumentParser(prog="test-byo", description=__doc__.split("\n\n")[0])
    p.add_argument("--keep", action="store_true", help="leave the machines up afterwards")
    args = p.parse_args()
    remove()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    key = WORK / "admin_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "byo-admin", "-f", str(key)], check=True)
    try:
        start(key)
        (WORK / "hosts.yml").write_text(inventory(key))
        return byo.main([str(WORK / "hosts.yml")])
    finally:
        if not args.keep:
            remove()


if __name__ == "__main__":
    sys.exit(main())
