"""Each lab service runs and is enabled where it should (one fact per test)."""
import pytest

from tests.infra.conftest import BYO, MANAGERS

MANAGER_UNITS = ["etcd", "haproxy", "keepalived", "docker", "docker-registry", "docker-registry-push",
                 "simplecloud-registry-guard", "simplecloud-manager"]


@pytest.mark.parametrize("unit", MANAGER_UNITS)
def test_manager_service_running(each_manager, unit):
    _, host = each_manager
    assert host.service(unit).is_running


@pytest.mark.parametrize("unit", MANAGER_UNITS)
def test_manager_service_enabled(each_manager, unit):
    _, host = each_manager
    assert host.service(unit).is_enabled


@pytest.mark.single_host
def test_pod_docker_running(pod):
    _, host, _ = pod
    assert host.service("docker").is_running


@pytest.mark.single_host
def test_pod_docker_enabled(pod):
    _, host, _ = pod
    assert host.service("docker").is_enabled


@pytest.mark.single_host
@pytest.mark.parametrize("unit", ["etcd", "haproxy", "keepalived", "simplecloud-manager"])
def test_pod_runs_no_control_plane(pod, unit):
    _, host, _ = pod
    assert not host.service(unit).is_running


@pytest.mark.single_host
def test_engine_storage_is_its_own_volume(machine):
    mount = machine.mount_point("/var/lib/docker")
    assert mount.exists
    # A VM: the disk the Vagrantfile attaches. (Not `systemd-detect-virt --vm`:
    # inside a lab container on a virtual build machine it names the host's hypervisor.)
    # Machines you bring (make byo) have whatever storage they have.
    if machine.run("systemd-detect-virt --container").rc != 0 and not BYO:
        assert (mount.device, mount.filesystem) == ("/dev/vdb", "ext4")


@pytest.mark.single_host
def test_engine_starts_containers_confined_on_vms(machine):
    """On a VM the kernel has AppArmor on: the engine needs apparmor_parser to
    load docker-default, or no container starts (the first VM lab's failure).

    A lab with managers has the base image on every Docker host and on the
    first manager (it builds the job images from it, the Docker hosts pull
    it: role worker_images), so there a container is started, and on a VM its
    profile read. The other managers build nothing. Only the lone VM of make
    test-vm (no manager, no images) checks AppArmor alone."""
    vm = machine.run("systemd-detect-virt --container").rc != 0
    assert vm or MANAGERS, "a lone machine without a manager is the VM tier's, and it is a VM"
    if vm:
        assert machine.file("/sbin/apparmor_parser").exists
        assert "name=apparmor" in machine.check_output("docker info -f '{{json .SecurityOptions}}'")
    name = machine.backend.get_hostname()
    if not MANAGERS or name in MANAGERS[1:]:
        return
    assert machine.run("docker image inspect debian:bookworm-slim").rc == 0, \
        "the base image debian:bookworm-slim is missing (role worker_images puts it on every Docker host)"
    if vm:
        profile = machine.check_output("docker run --rm debian:bookworm-slim cat /proc/self/attr/current")
        assert profile == "docker-default (enforce)"
    else:   # no LSM in a machine container: /proc/self/attr/current is EINVAL there
        assert machine.run("docker run --rm debian:bookworm-slim true").rc == 0


@pytest.mark.single_host
def test_engine_uses_overlay2(machine):
    assert machine.check_output("docker info -f '{{.Driver}}'") == "overlay2"


@pytest.mark.single_host
def test_pod_sshd_allows_the_host_links_sessions(pod):
    """The orchestrator runs many Docker connections as sessions of one SSH connection."""
    _, host, _ = pod
    assert "maxsessions 64" in host.check_output("sshd -T").splitlines()


@pytest.mark.single_host
def test_pod_has_socat_for_the_host_link(pod):
    _, host, _ = pod
    assert host.exists("socat")
