"""br-cloud on every pod host, and every worker IP reachable from the manager."""
import json
import uuid

import pytest


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


def test_manager_routes_to_pod_subnet(manager, pod):
    _, _, subnet = pod
    assert subnet in manager.check_output("ip route")


@pytest.fixture
def worker(pod):
    """A job container on the pod's bridge, removed afterwards."""
    name, host, _ = pod
    cname = f"infra-{uuid.uuid4().hex[:6]}"
    host.check_output(f"docker run -d --name {cname} --network cloud --label simplecloud.test=1 "
                      f"-e SIMPLECLOUD_NODE={cname} manager:5050/simplecloud/{name}")
    ip = host.check_output(
        f"docker inspect -f '{{{{.NetworkSettings.Networks.cloud.IPAddress}}}}' {cname}")
    yield name, cname, ip
    host.run(f"docker rm -f {cname}")


def test_worker_reachable_from_manager_by_bridge_ip(manager, worker):
    """Reachability, so the job's index (GET /), not its work: the heavy job's
    2,000,000 SHA-256 rounds take longer than curl's 5 s under TCG on a VM."""
    job, cname, ip = worker
    out = manager.run(f"curl -s --retry 20 --retry-delay 1 --retry-connrefused -m 5 http://{ip}:8000/")
    assert out.rc == 0, out.stderr
    index = json.loads(out.stdout)
    assert (index["job"], index["node"]) == (job, cname)
