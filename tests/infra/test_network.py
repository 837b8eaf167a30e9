"""br-cloud on every Docker host, routes to every worker subnet on every
machine, and every worker IP reachable from the managers."""
import json
import uuid

import pytest

from .conftest import DOCKER_HOSTS, LAB, MACHINES, _host


@pytest.mark.single_host
def test_bridge_present(pod):
    _, host, _ = pod
    assert host.interface("br-cloud").exists


@pytest.mark.single_host
def test_bridge_has_pod_gateway(pod):
    _, host, subnet = pod
    gateway = subnet.replace(".0/24", ".1")
    assert gateway in host.interface("br-cloud").addresses


@pytest.mark.single_host
def test_docker_network_uses_bridge(pod):
    _, host, subnet = pod
    info = json.loads(host.check_output("docker network inspect cloud"))[0]
    assert info["IPAM"]["Config"][0]["Subnet"] == subnet
    assert info["Options"]["com.docker.network.bridge.name"] == "br-cloud"


@pytest.mark.parametrize("name", MACHINES)
def test_routes_to_every_worker_subnet(name):
    """host-gw: each machine (managers, pod hosts, spares) routes every other
    host's worker subnet through that host's lab address."""
    routes = _host(name).check_output("ip route").splitlines()
    for other in DOCKER_HOSTS:
        if other != name:
            want = f"{LAB.subnet(other)} via {LAB.address(other)} "
            assert [r for r in routes if r.startswith(want)], (name, other, routes)


@pytest.fixture
def worker(pod):
    """A job container on the host's bridge, removed afterwards: its pod's job
    (the light job on a spare)."""
    name, host, _ = pod
    job = LAB.pod_of(name) or "light"
    cname = f"infra-{uuid.uuid4().hex[:6]}"
    host.check_output(f"docker run -d --name {cname} --network cloud --label simplecloud.test=1 "
                      f"-e SIMPLECLOUD_NODE={cname} registry:5050/simplecloud/{job}")
    ip = host.check_output(
        f"docker inspect -f '{{{{.NetworkSettings.Networks.cloud.IPAddress}}}}' {cname}")
    yield job, cname, ip
    host.run(f"docker rm -f {cname}")


def test_worker_reachable_from_every_manager_by_bridge_ip(each_manager, worker):
    """Reachability, so the job's index (GET /), not its work: the heavy job's
    2,000,000 SHA-256 rounds take longer than curl's 5 s under TCG on a VM."""
    _, manager = each_manager
    job, cname, ip = worker
    out = manager.run(f"curl -s --retry 20 --retry-delay 1 --retry-connrefused -m 5 http://{ip}:8000/")
    assert out.rc == 0, out.stderr
    index = json.loads(out.stdout)
    assert (index["job"], index["node"]) == (job, cname)
