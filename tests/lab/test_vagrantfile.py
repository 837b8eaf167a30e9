"""The Vagrantfile: valid for every provider (including the VM ones that
cannot boot on the build machines), the provider chosen from lab.yml or
LAB_PROVIDER, the machines taken from the Ansible inventory, the `docker run`
commands Vagrant would run, and what its `up` trigger would build.

Nothing here starts a machine: the docker commands come from Vagrant's own
docker provider code with its execute replaced by "record" (docker_run_args.rb);
the trigger's list from the Vagrantfile's own function (missing_parts.rb).
Cost: about 10 s per Vagrant run, some 2 minutes in all."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from playbooks.inventory import Inventory
from tests.byo.simulate import MACHINE_ARGS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.lab


# What `make` exports to choose the lab; each test says its own.
LAB_CHOICE = ("LAB_PROVIDER", "VAGRANT_DEFAULT_PROVIDER", "LAB_INVENTORY", "VAGRANT_DOTFILE_PATH", "LAB_BOX")


def clean_env(**env) -> dict:
    return dict({k: v for k, v in os.environ.items() if k not in LAB_CHOICE}, **env)


def vagrant(*args, cwd=ROOT, **env):
    run = subprocess.run(["vagrant", *args], cwd=cwd, env=clean_env(**env),
                         capture_output=True, text=True, timeout=120)
    return run


def ruby(script, *args, cwd=ROOT, **env):
    run = subprocess.run(["ruby", str(HERE / script), str(cwd), *args], cwd=cwd,
                         env=clean_env(**env), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def copy_vagrantfile(to: Path) -> None:
    """The Vagrantfile, its helpers (vagrant/) and lab.yml into ``to``."""
    for name in ("Vagrantfile", "lab.yml"):
        shutil.copy(ROOT / name, to / name)
    shutil.copytree(ROOT / "vagrant", to / "vagrant")


@pytest.fixture
def lab_copy(tmp_path):
    """The files the Vagrantfile reads, in a scratch directory: no lab state."""
    copy_vagrantfile(tmp_path)
    shutil.copytree(ROOT / "inventory", tmp_path / "inventory")
    return tmp_path


def inventory_hosts(name="hosts.yml"):
    """The hosts of an inventory file of inventory/ (the VM lab's: vm.yml)."""
    return sorted(Inventory.load(ROOT / "inventory" / name).machines)


def managers():
    return Inventory.load(ROOT / "inventory" / "hosts.yml").managers


@pytest.mark.parametrize("path", ["Vagrantfile", "vagrant/lab.rb"])
def test_ruby_syntax(path):
    run = subprocess.run(["ruby", "-c", path], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "Syntax OK" in run.stdout


def test_vagrantfile_is_settings_then_configure():
    """Like kubespray's: settings, then `Vagrant.configure`; no function of its
    own (they are in vagrant/lab.rb)."""
    lines = (ROOT / "Vagrantfile").read_text().splitlines()
    assert not [line for line in lines if line.startswith("def ")]
    configure = next(i for i, line in enumerate(lines) if line.startswith("Vagrant.configure"))
    assert configure < 100, configure


@pytest.mark.parametrize("provider", ["docker", "libvirt", "virtualbox"])
def test_vagrant_validate(provider):
    # VirtualBox is not installed on the build machines: Vagrant then refuses
    # to validate its provider settings, so only the rest is validated.
    extra = ["--ignore-provider"] if provider == "virtualbox" and not shutil.which("VBoxManage") else []
    run = vagrant("validate", *extra, LAB_PROVIDER=provider)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "validated successfully" in run.stdout


@pytest.mark.parametrize("provider", ["docker", "libvirt"])
def test_plain_vagrant_uses_the_labs_provider(lab_copy, provider):
    """No --provider: lab.yml's provider, or LAB_PROVIDER's, even against a
    VAGRANT_DEFAULT_PROVIDER that says otherwise."""
    if provider != "docker":
        lab = yaml.safe_load((lab_copy / "lab.yml").read_text())
        lab["provider"] = provider
        (lab_copy / "lab.yml").write_text(yaml.safe_dump(lab))
    status = vagrant("status", cwd=lab_copy, VAGRANT_DEFAULT_PROVIDER="virtualbox")
    assert status.returncode == 0, status.stderr
    # the VM lab's machines: the smaller topology of lab.yml's libvirt.inventory
    for host in inventory_hosts("vm.yml" if provider == "libvirt" else "hosts.yml"):
        assert f"not created ({provider})" in next(line for line in status.stdout.splitlines()
                                                   if line.startswith(host + " "))
    other = "libvirt" if provider == "docker" else "docker"
    assert f"({other})" in vagrant("status", cwd=lab_copy, LAB_PROVIDER=other).stdout


def test_a_lab_keeps_the_provider_of_its_machines(lab_copy):
    """After `LAB_PROVIDER=libvirt make up`, plain `vagrant ssh`, `make
    test-lab` or `make status` are about those VMs (lab.yml says docker),
    and a command for another provider leaves their ssh-config alone."""
    record = lab_copy / ".vagrant" / "machines" / "manager-1" / "libvirt" / "id"
    record.parent.mkdir(parents=True)
    record.write_text("6b3f1d2e-0000-4000-8000-000000000000")     # what vagrant-libvirt keeps of a domain
    status = vagrant("status", cwd=lab_copy)
    # Vagrant asks libvirt about the machine: there is no such domain where libvirtd runs (the
    # VM tier starts it), and no libvirtd to ask before; either way the answer is libvirt's
    if status.returncode == 0:
        assert re.search(r"^manager-1 +not created \(libvirt\)$", status.stdout, re.M), status.stdout
    else:
        assert status.stderr.startswith("Error while connecting to Libvirt"), status.stderr
    config = (lab_copy / ".vagrant" / "ssh-config").read_text()
    assert "Host manager-1\n  HostName 192.168.56.10\n  Port 22\n" in config
    assert "Host manager-2\n" not in config             # the VM lab's smaller topology (inventory/vm.yml)
    record.write_text("6b3f1d2e-0000-4000-8000-000000000000")     # Vagrant forgot the domain it did not find
    make = subprocess.run(["make", "-n", "-f", str(ROOT / "Makefile"), "status"], cwd=lab_copy,
                          env=clean_env(), capture_output=True, text=True)
    assert 'echo "simplecloud lab (libvirt):"' in make.stdout, make.stdout + make.stderr
    vagrant("status", cwd=lab_copy, LAB_PROVIDER="docker")
    assert (lab_copy / ".vagrant" / "ssh-config").read_text() == config


def test_wrong_provider_stops_with_one_line(lab_copy):
    run = vagrant("status", "--provider=libvirt", cwd=lab_copy)
    assert run.returncode != 0
    assert run.stderr.strip() == ("simplecloud: the lab's provider is docker; choose it with "
                                  "LAB_PROVIDER=libvirt (or lab.yml), not --provider")
    run = vagrant("status", cwd=lab_copy, LAB_PROVIDER="hyperv")
    assert run.returncode != 0 and len(run.stderr.strip().splitlines()) == 1
    assert "use one of docker, libvirt, virtualbox" in run.stderr


def test_docker_run_commands_of_the_container_lab(lab_copy):
    commands = ruby("docker_run_args.rb", cwd=lab_copy)     # whatever lab runs in the checkout
    lab = yaml.safe_load((ROOT / "lab.yml").read_text())
    assert sorted(commands) == inventory_hosts()
    for host, argv in commands.items():
        hv = yaml.safe_load((ROOT / "inventory" / "host_vars" / f"{host}.yml").read_text())
        assert argv[:2] == ["docker", "run"] and argv[-1] == lab["docker"]["image"]
        pairs = list(zip(argv, argv[1:]))
        assert ("--name", f"simplecloud-{host}") in pairs
        assert ("-h", host) in pairs
        assert ("-p", f"127.0.0.1:{hv['lab_ssh_port']}:22") in pairs
        assert ("-v", f"simplecloud-{host}-docker:/var/lib/docker") in pairs
        for flag in [("--cap-add", "SYS_ADMIN"), ("--cgroupns", "host"), ("-e", "container=docker"),
                     ("--label", "simplecloud.lab=1"), ("--tmpfs", "/run")]:
            assert flag in pairs, (host, flag)
        assert "--privileged" not in argv   # fails on these hosts (ENVIRONMENT.md)
        # Docker rewrites /etc/hosts at every start: it writes the lab's names itself
        lab_inventory = Inventory.load(ROOT / "inventory" / "hosts.yml")
        added = {p for f, p in pairs if f == "--add-host"}
        assert added == {f"{m}:{lab_inventory.address(m)}" for m in lab_inventory.machines} | \
            {f"manager:{lab_inventory.vip}", f"registry:{lab_inventory.vip}"}, host
        # the bring-your-own simulation starts its machines with the same flags
        assert set(zip(MACHINE_ARGS[::2], MACHINE_ARGS[1::2])) <= set(pairs), host
        # each manager's registry storage outlives `make down` (its own volume); HAProxy binds the virtual IP
        is_manager = host in managers()
        assert (("-v", f"simplecloud-{host}-registry:/var/lib/docker-registry") in pairs) == is_manager, host
        assert (("--sysctl", "net.ipv4.ip_nonlocal_bind=1") in pairs) == is_manager, host
        # the first manager publishes lab.yml's ports on 127.0.0.1 (a shortcut to one manager)
        published = {p for f, p in pairs if f == "-p"} - {f"127.0.0.1:{hv['lab_ssh_port']}:22"}
        want = {f"127.0.0.1:{p['host']}:{p['guest']}" for p in lab["published"]}
        assert published == (want if host == managers()[0] else set()), host


def test_machines_come_from_the_inventory(lab_copy):
    """A host added to the inventory is a lab machine, sized by its groups."""
    inv = yaml.safe_load((lab_copy / "inventory" / "hosts.yml").read_text())
    inv["all"]["children"]["pods"]["children"]["pod_extra"] = {"hosts": {"pod-extra": None}}
    (lab_copy / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inv))
    (lab_copy / "inventory" / "host_vars" / "pod-extra.yml").write_text(
        "lab_address: 192.168.56.19\nlab_ssh_port: 2239\n")
    commands = ruby("docker_run_args.rb", cwd=lab_copy)
    assert sorted(commands) == sorted(inventory_hosts() + ["pod-extra"])
    assert list(commands)[-3:] == managers()        # the managers last: the provisioner runs from the last one
    assert "127.0.0.1:2239:22" in commands["pod-extra"]
    (lab_copy / "inventory" / "host_vars" / "pod-extra.yml").write_text("lab_address: 192.168.56.19\n")
    run = vagrant("status", cwd=lab_copy)
    assert run.returncode != 0
    assert run.stderr.strip() == ("simplecloud: inventory host pod-extra has no lab_ssh_port "
                                  "(inventory/host_vars/pod-extra.yml)")


def test_up_trigger_builds_what_a_fresh_clone_lacks(lab_copy):
    (lab_copy / "lab.local.yml").write_text("docker: {image: 'simplecloud/absent:none'}\n")
    assert ruby("missing_parts.rb", cwd=lab_copy) == {
        "images/build/base.tar": "images", "the image simplecloud/absent:none": "images",
        "images/build/wheels.tar": "wheels"}
    # `vagrant up --no-provision` (what `make up` runs) needs no wheels yet
    assert "images/build/wheels.tar" not in ruby("missing_parts.rb", "--no-provision", cwd=lab_copy)
    (lab_copy / "lab.local.yml").write_text(
        "libvirt: {box: 'simplecloud/absent', box_file: 'images/build/absent.box'}\n")
    assert ruby("missing_parts.rb", cwd=lab_copy, LAB_PROVIDER="libvirt") == {
        "images/build/base.tar": "images", "images/build/wheels.tar": "wheels",
        "the box simplecloud/absent": "box"}
    # a built box file is enough: Vagrant adds it itself (box_url)
    build = lab_copy / "images" / "build"
    build.mkdir(parents=True)
    for name in ("base.tar", "absent.box", "wheels.tar"):
        (build / name).write_bytes(b"")
    assert ruby("missing_parts.rb", cwd=lab_copy, LAB_PROVIDER="libvirt") == {}


def test_up_trigger_runs_make_and_stops_with_one_line(tmp_path):
    """A real `vagrant up` in a scratch lab of one machine that is not the
    lab's (its own name and subnet), whose image is absent and which has no
    Makefile: the trigger runs make, make fails, Vagrant stops before it
    creates anything."""
    (tmp_path / "inventory" / "host_vars").mkdir(parents=True)
    copy_vagrantfile(tmp_path)
    (tmp_path / "inventory" / "hosts.yml").write_text(
        "all:\n  children:\n    pods:\n      hosts:\n        pod-trigger-test:\n")
    (tmp_path / "inventory" / "host_vars" / "pod-trigger-test.yml").write_text(
        "lab_address: 192.168.77.10\nlab_ssh_port: 2299\n")
    (tmp_path / "lab.local.yml").write_text("docker: {image: 'simplecloud/absent:none'}\n")
    try:
        run = vagrant("up", "--no-provision", cwd=tmp_path)
    finally:
        subprocess.run(["docker", "rm", "-f", "simplecloud-pod-trigger-test"], capture_output=True)
        subprocess.run(["docker", "network", "rm", "vagrant_network_192.168.77.0/24"], capture_output=True)
    assert run.returncode != 0
    assert "running `make images`" in run.stdout
    assert run.stderr.strip().splitlines()[-1] == (
        "simplecloud: `make images` failed (logs in .simplecloud/logs/); run it, then `vagrant up`")


def container_id(name):
    run = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True)
    return run.stdout.strip() if run.returncode == 0 else None


def test_up_replaces_another_labs_machine_only_when_asked(tmp_path):
    """What CI met: a lab left by another checkout holds the machine's name
    and SSH port ("The forwarded port to 2231 is already in use"). A real
    `vagrant up` in a scratch lab of one machine (its own name, port and
    subnet) beside such a container: plain, it stops with one line and leaves
    it; as `make up` runs it, the container is replaced by this lab's own."""
    name, machine = "pod-other-test", "simplecloud-pod-other-test"
    (tmp_path / "inventory" / "host_vars").mkdir(parents=True)
    copy_vagrantfile(tmp_path)
    (tmp_path / "inventory" / "hosts.yml").write_text(
        f"all:\n  children:\n    pods:\n      hosts:\n        {name}:\n")
    (tmp_path / "inventory" / "host_vars" / f"{name}.yml").write_text(
        "lab_address: 192.168.78.10\nlab_ssh_port: 2298\n")
    image = yaml.safe_load((ROOT / "lab.yml").read_text())["docker"]["image"]
    subprocess.run(["docker", "create", "--name", machine, "--label", "simplecloud.lab=1",
                    "--label", "simplecloud.test=1", "--label", "simplecloud.lab.dir=/elsewhere",
                    "-p", "127.0.0.1:2298:22", image], check=True, capture_output=True)
    stale = container_id(machine)
    try:
        refused = vagrant("up", "--no-provision", cwd=tmp_path)
        assert refused.returncode != 0
        assert refused.stderr.strip().splitlines()[-1] == (
            f"simplecloud: the container {machine} belongs to another lab (/elsewhere); one lab per "
            "machine: `make down` there, or `make up` here to replace it")
        assert container_id(machine) == stale

        replaced = vagrant("up", "--no-provision", cwd=tmp_path, SIMPLECLOUD_REPLACE_OTHER_LAB="1")
        assert replaced.returncode == 0, replaced.stdout[-2000:] + replaced.stderr
        assert f"simplecloud: replacing the container {machine} of another lab (/elsewhere)" in replaced.stdout
        ours = container_id(machine)
        assert ours not in (None, stale)
        assert (tmp_path / ".vagrant" / "machines" / name / "docker" / "id").read_text().strip() == ours
        label = subprocess.run(["docker", "inspect", "-f", '{{index .Config.Labels "simplecloud.lab.dir"}}',
                                machine], capture_output=True, text=True).stdout.strip()
        assert label == str(tmp_path)

        again = vagrant("up", "--no-provision", cwd=tmp_path)   # its own machine: nothing to replace
        assert again.returncode == 0, again.stderr
        assert "replacing" not in again.stdout and container_id(machine) == ours
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", machine], capture_output=True)
        subprocess.run(["docker", "volume", "rm", f"{machine}-docker"], capture_output=True)
        subprocess.run(["docker", "network", "rm", "vagrant_network_192.168.78.0/24"], capture_output=True)


def test_a_container_removed_meanwhile_holds_no_port(lab_copy):
    """Vagrant's docker provider lists every container of the engine, then
    inspects each for the host ports it holds; one that another program
    removed in between (a test tier's, on a shared engine) made `vagrant up`
    fail ("No such object"). With the Vagrantfile's helpers it is skipped."""
    run = subprocess.run(["ruby", str(HERE / "used_ports.rb"), str(lab_copy)], cwd=lab_copy,
                         env=clean_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"2299": ["127.0.0.1"]}


def test_provisioning_trigger_runs_like_vagrants_own_provisioners(lab_copy):
    def provisions(*argv):
        run = subprocess.run(["ruby", str(HERE / "provision_now.rb"), str(lab_copy), *argv], cwd=lab_copy,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout.strip().splitlines()[-1])

    assert provisions("up") is True                       # a new lab
    assert provisions("up", "--no-provision") is False    # what `make up` runs before `make provision`
    assert provisions("provision") is True
    assert provisions("reload") is False
    (lab_copy / ".vagrant").mkdir(exist_ok=True)
    (lab_copy / ".vagrant" / "simplecloud-provisioned").touch()
    assert provisions("up") is False                      # already provisioned
    assert provisions("up", "--provision") is True


def test_the_vm_tier_is_its_own_lab(tmp_path):
    """`make test-vm`'s lab: its machines from tests/vm/hosts.yml (LAB_INVENTORY),
    its Vagrant state, keys and ssh-config under VAGRANT_DOTFILE_PATH; the
    lab's own .vagrant/ssh-config is left alone."""
    lab_config = ROOT / ".vagrant" / "ssh-config"
    before = lab_config.read_text() if lab_config.exists() else None
    state = tmp_path / "vagrant"
    status = vagrant("status", LAB_PROVIDER="libvirt", LAB_INVENTORY="tests/vm/hosts.yml",
                     VAGRANT_DOTFILE_PATH=str(state))
    assert status.returncode == 0, status.stderr
    machines = [line.split()[0] for line in status.stdout.splitlines() if "not created (libvirt)" in line]
    assert machines == ["vm-pod"]
    config = (state / "ssh-config").read_text()
    assert "Host vm-pod\n  HostName 192.168.58.11\n  Port 22\n" in config
    assert f"IdentityFile {state / 'lab_ed25519'}" in config
    assert (state / "insecure_private_key").exists()
    assert (lab_config.read_text() if lab_config.exists() else None) == before
