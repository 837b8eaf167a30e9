"""The container lab's machine image, built by the pyinfra machine deploy
(images/machine/build-host.sh), run as the lab runs it.

Two machines from one image, with the Vagrantfile's container flags: systemd
comes up, sshd answers Vagrant's insecure key, `vagrant` has sudo, and each
machine has its own SSH host keys and machine id (the image carries none).

Cost: builds simplecloud/host:test once (about 40 s with a reachable Debian
mirror), reused while images/machine/ is unchanged; then about 15 s for the
two containers. Needs debian:bookworm-slim (images/base.sh), the dependencies' wheels
(make deps-wheels) and vagrant.
"""
from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import paramiko
import pytest

from tests.integration.fixtures_edges import wait_until

ROOT = Path(__file__).resolve().parents[2]
MACHINE = ROOT / "images" / "machine"
IMAGE = "simplecloud/host:test"
DEPS = ROOT / "images" / "build" / "deps"
sys.path.insert(0, str(MACHINE))
from machine import DISABLED, ORCHESTRATOR_VENV, PACKAGES, VAGRANT_KEY_DIRS  # noqa: E402 - images/machine is no package: on the path first

pytestmark = pytest.mark.integration


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    run = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert run.returncode == 0, f"docker {' '.join(args)}: {run.stderr.strip()}"
    return run.stdout.strip()


def machine_container_args() -> list[str]:
    """The flags the Vagrantfile gives every lab container (MACHINE_CONTAINER_ARGS)."""
    text = (ROOT / "Vagrantfile").read_text()
    words = re.search(r"MACHINE_CONTAINER_ARGS = %w\[(.*?)\]", text, re.S).group(1).split()
    return [w for w in words if w != "simplecloud.lab=1" and w != "--label"]


def vagrant_private_key() -> paramiko.PKey:
    for pattern in VAGRANT_KEY_DIRS:
        for path in sorted(Path("/").glob(pattern.lstrip("/") + "/vagrant")):
            return paramiko.RSAKey.from_private_key_file(str(path))
    pytest.fail("Vagrant's insecure private key not found: is vagrant installed?")


@pytest.fixture(scope="module")
def image() -> str:
    """simplecloud/host:test, rebuilt when images/machine/ or the dependencies'
    wheels (make deps-wheels, a prerequisite of this tier) are newer than it."""
    newest = max(p.stat().st_mtime for p in [*MACHINE.rglob("*"), DEPS / "requirements.txt"] if p.is_file())
    created = docker("image", "inspect", "-f", "{{.Created}}", IMAGE, check=False)
    stale = True
    if created:
        built = subprocess.run(["date", "-d", created, "+%s"], capture_output=True, text=True)
        stale = float(built.stdout) < newest
    if stale:
        run = subprocess.run([str(MACHINE / "build-host.sh"), IMAGE], capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return IMAGE


class Machine:
    """One lab-style container from the image, SSH published on 127.0.0.1."""

    def __init__(self, image: str):
        self.name = f"simplecloud-test-machine-{uuid.uuid4().hex[:8]}"
        docker("run", "-d", "--name", self.name, "--label", "simplecloud.test=1",
               *machine_container_args(), "-p", "127.0.0.1::22", image)
        self.port = int(docker("port", self.name, "22/tcp").splitlines()[0].rsplit(":", 1)[1])

    def sh(self, command: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", self.name, "sh", "-c", command],
                              capture_output=True, text=True, timeout=timeout)

    def booted(self) -> str | None:
        """systemd's state once the boot is over (until systemd answers on
        its bus, systemctl prints nothing)."""
        state = self.sh("systemctl is-system-running").stdout.strip()
        return None if state in ("", "initializing", "starting") else state

    def ssh(self, command: str) -> str:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect("127.0.0.1", port=self.port, username="vagrant", pkey=vagrant_private_key(),
                       allow_agent=False, look_for_keys=False, timeout=10)
        try:
            _, out, err = client.exec_command(command, timeout=30)
            status = out.channel.recv_exit_status()
            assert status == 0, f"{command}: {err.read().decode()}"
            return out.read().decode().strip()
        finally:
            client.close()

    def remove(self):
        docker("rm", "-f", "-v", self.name, check=False)


@pytest.fixture(scope="module")
def machines(image):
    started = []
    try:
        for _ in range(2):
            started.append(Machine(image))
        for m in started:
            state = wait_until(m.booted, timeout=90, interval=0.5, what=f"{m.name} to boot")
            assert state == "running", m.sh("systemctl --failed --no-legend").stdout
        yield started
    finally:
        for m in started:
            m.remove()


def test_image_carries_no_host_keys_and_no_machine_id(image):
    out = docker("run", "--rm", "--entrypoint", "sh", image, "-c",
                 "ls /etc/ssh; echo; wc -c </etc/machine-id")
    assert "ssh_host_" not in out
    assert out.splitlines()[-1] == "0"


def test_image_is_a_machine(image):
    config = docker("image", "inspect", "-f", "{{json .Config.Cmd}} {{.Config.StopSignal}}", image)
    assert config == '["/sbin/init"] SIGRTMIN+3'


def test_sshd_answers_vagrants_key_and_sudo_works(machines):
    for m in machines:
        assert m.ssh("sudo -n id -un") == "root"


def test_each_machine_has_its_own_host_keys_and_machine_id(machines):
    keys = [m.ssh("cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1] for m in machines]
    ids = [m.ssh("cat /etc/machine-id") for m in machines]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    assert len(set(keys)) == 2 and len(set(ids)) == 2


def test_packages_installed_and_services_left_to_the_roles(machines):
    m = machines[0]
    missing = m.sh("dpkg-query -W -f '${Package} ${Status}\\n' " + " ".join(PACKAGES))
    not_ok = [line for line in missing.stdout.splitlines() if "install ok installed" not in line]
    assert missing.returncode == 0 and not not_ok, missing.stderr + "\n".join(not_ok)
    enabled = m.sh("systemctl is-enabled " + " ".join(DISABLED)).stdout.split()
    assert enabled == ["disabled"] * len(DISABLED)
    assert m.sh("systemctl is-active docker.service").stdout.strip() == "inactive"


def test_the_orchestrators_venv_has_the_dependencies_and_not_simplecloud(machines):
    """Made in the image (role orchestrator then installs only simplecloud):
    every wheel of make deps-wheels is installed at its version, compiled,
    and simplecloud is not there yet."""
    m = machines[0]
    pip = m.sh(f"{ORCHESTRATOR_VENV}/bin/python -m pip --version")
    assert pip.returncode == 0 and ORCHESTRATOR_VENV in pip.stdout, pip.stdout + pip.stderr
    frozen = m.sh(f"{ORCHESTRATOR_VENV}/bin/python -m pip freeze").stdout.split()
    installed = {line.split("==")[0].lower().replace("-", "_"): line.split("==")[1] for line in frozen}
    wheels = {w.name.split("-")[0].lower(): w.name.split("-")[1] for w in DEPS.glob("*.whl")}
    assert wheels and installed == wheels
    assert m.sh(f"{ORCHESTRATOR_VENV}/bin/python -m pip show -q simplecloud").returncode == 1
    assert m.sh(f"ls {ORCHESTRATOR_VENV}/lib/python3*/site-packages/flask/__pycache__/app.*.pyc").returncode == 0


def test_vagrant_account(machines):
    m = machines[0]
    assert m.sh("stat -c '%U %a' /home/vagrant/.ssh /home/vagrant/.ssh/authorized_keys"
                " /etc/sudoers.d/vagrant").stdout.split("\n")[:3] == [
        "vagrant 700", "vagrant 600", "root 440"]
    assert m.sh("visudo -c").returncode == 0
