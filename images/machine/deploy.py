"""The simplecloud machine: one definition for both labs (a pyinfra deploy).

What every lab machine starts from, whichever the lab:
  - the Debian packages the Ansible roles install (pre-installed, so a lab
    comes up fast; the roles still install and configure them, so a machine
    from elsewhere works too), and the orchestrator's venv with simplecloud's
    dependencies (the same: the role installs into it what is missing),
  - the `vagrant` account: password-less sudo and Vagrant's well-known public
    key (the first provisioning replaces it with the lab's own key),
  - sshd's settings (keys only) and no SSH host keys: each machine makes its
    own on first boot (ssh-hostkeys.service), and gets its own machine id
    (an empty /etc/machine-id: systemd fills it on first boot),
  - every service disabled: the roles decide which machine runs what.

Two targets (`--data simplecloud_target=...`):
  container  run by images/machine/build-host.sh through the @docker
             connector: the container lab's image simplecloud/host;
  vm         run by images/machine/build-box.sh through the @chroot connector
             on the container image's files: the VM box (kernel, fstab, DHCP
             on eth0, serial console, Docker's data disk).
"""
import sys
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import apt, files, server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import CONTAINER_MASKED, DISABLED, ORCHESTRATOR_VENV, PACKAGES, VAGRANT_KEY_DIRS, VM_PACKAGES  # noqa: E402

TARGET = host.data.get("simplecloud_target", "container")
DEPS = "/tmp/simplecloud-deps"   # the dependencies' wheels, copied in by build-host.sh
assert TARGET in ("container", "vm"), f"simplecloud_target: container or vm, not {TARGET!r}"


def vagrant_public_key() -> str:
    for pattern in VAGRANT_KEY_DIRS:
        for path in sorted(Path("/").glob(pattern.lstrip("/") + "/vagrant.pub")):
            return path.read_text()
    raise SystemExit("simplecloud: Vagrant's insecure public key not found: is vagrant installed?")


apt.packages(
    name="Pre-install the roles' packages",
    packages=PACKAGES + (VM_PACKAGES if TARGET == "vm" else []),
    update=True,
    no_recommends=True,
)
server.shell(name="Drop the package cache", commands=["apt-get clean"])
server.shell(name="The orchestrator's venv with its dependencies (role orchestrator adds simplecloud)",
             commands=[f"[ -x {ORCHESTRATOR_VENV}/bin/pip ] || python3 -m venv {ORCHESTRATOR_VENV}",
                       f"if [ -d {DEPS} ]; then {ORCHESTRATOR_VENV}/bin/pip install -q --no-index"
                       f" --find-links {DEPS} -r {DEPS}/requirements.txt; fi",
                       f"rm -rf {DEPS}"])

server.shell(
    name="Every service starts disabled (the roles decide)",
    commands=[f"systemctl disable {unit} 2>/dev/null || true" for unit in DISABLED],
)
if TARGET == "container":
    server.shell(name="Mask what a container cannot run",
                 commands=["systemctl mask " + " ".join(CONTAINER_MASKED)])
else:                                  # a VM runs them (its root may come from the container's image)
    server.shell(name="Unmask what only a container cannot run",
                 commands=["systemctl unmask " + " ".join(CONTAINER_MASKED)])

# ---------------------------------------------------------------- accounts
server.user(name="The vagrant account", user="vagrant", shell="/bin/bash", create_home=True)
files.put(name="vagrant: password-less sudo", src=StringIO("vagrant ALL=(ALL) NOPASSWD:ALL\n"),
          dest="/etc/sudoers.d/vagrant", mode="440", user="root", group="root")
files.directory(name="vagrant: ~/.ssh", path="/home/vagrant/.ssh", mode="700",
                user="vagrant", group="vagrant")
files.put(name="vagrant: Vagrant's insecure public key", src=StringIO(vagrant_public_key()),
          dest="/home/vagrant/.ssh/authorized_keys", mode="600", user="vagrant", group="vagrant")

# ---------------------------------------------------------------- sshd, identity
files.put(name="sshd: keys only", src=str(HERE / "files" / "sshd-machine.conf"),
          dest="/etc/ssh/sshd_config.d/zz-machine.conf", mode="644")
files.put(name="First boot: this machine's SSH host keys",
          src=str(HERE / "files" / "ssh-hostkeys.service"),
          dest="/etc/systemd/system/ssh-hostkeys.service", mode="644")
server.shell(name="Enable sshd and the host keys unit",
             commands=["systemctl enable ssh.service ssh-hostkeys.service"])

# ---------------------------------------------------------------- the VM's own parts
if TARGET == "vm":
    files.put(name="VM: fstab (root on vda, Docker's data on vdb)",
              src=str(HERE / "files" / "fstab.vm"), dest="/etc/fstab", mode="644")
    files.put(name="VM: DHCP on the first NIC", src=str(HERE / "files" / "interfaces.vm"),
              dest="/etc/network/interfaces", mode="644")
    files.put(name="VM: a neutral host name (Vagrant sets the real one)",
              src=StringIO("simplecloud\n"), dest="/etc/hostname", mode="644")
    files.put(name="VM: /etc/hosts", src=StringIO("127.0.0.1\tlocalhost\n127.0.1.1\tsimplecloud\n"
                                                  "::1\tlocalhost ip6-localhost ip6-loopback\n"),
              dest="/etc/hosts", mode="644")
    server.shell(name="VM: a login prompt on the serial console",
                 commands=["systemctl enable serial-getty@ttyS0.service"])

# Last, so nothing above makes them again: no host keys, no machine id in the image.
server.shell(
    name="Nothing machine-specific in the image",
    commands=[
        "rm -f /etc/ssh/ssh_host_*key*",
        ": > /etc/machine-id",
        "rm -f /var/lib/dbus/machine-id && ln -s /etc/machine-id /var/lib/dbus/machine-id",
    ],
)
