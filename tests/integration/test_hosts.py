"""DockerHost against the real local dockerd."""
from __future__ import annotations

import pytest
import requests

from orchestrator.core import errors
from orchestrator.edges.docker_host import DockerHost, HostUnavailable
from orchestrator.edges.hostpool import HostPool
from orchestrator.settings import LinkSettings

from .fixtures_edges import DOCKER_URL, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def host(test_network, test_labels):
    h = DockerHost(DOCKER_URL, test_network, name="pod-test", extra_labels=test_labels)
    yield h
    for c in h.list_workers():
        h.remove(c.name)
    h.close()


def test_worker_lifecycle_with_real_limits(host, docker_client, worker_images):
    c = host.create_worker("light", "h1", "light", worker_images["light"], None, 8000,
                           cpus=0.25, memory_mb=128, env={"EXTRA": "yes"}, gen="g1")
    assert (c.name, c.pod, c.node, c.app, c.state, c.ip, c.gen) == (
        "sc-light.h1.g1", "light", "h1", "light", "created", None, "g1")
    assert [w.name for w in host.list_workers()] == ["sc-light.h1.g1"]

    raw = docker_client.containers.get("sc-light.h1.g1").attrs
    assert raw["HostConfig"]["NanoCpus"] == 250_000_000
    assert raw["HostConfig"]["Memory"] == 128 * 1024 * 1024
    assert raw["HostConfig"]["RestartPolicy"]["Name"] in ("no", "")
    env = dict(e.split("=", 1) for e in raw["Config"]["Env"])
    assert env["SIMPLECLOUD_NODE"] == "h1" and env["PORT"] == "8000" and env["EXTRA"] == "yes"
    assert raw["Config"]["Labels"]["simplecloud.managed"] == "1"
    assert raw["Config"]["Labels"]["simplecloud.test"] == "1"

    started = host.start("sc-light.h1.g1")
    assert started.state == "running" and started.ip
    body = wait_until(lambda: requests.get(f"http://{started.ip}:8000/light", timeout=2).json(),
                      timeout=15, what="the job server to answer")
    assert body["node"] == "h1"
    assert "h1" in host.logs("sc-light.h1.g1", tail=50) or host.logs("sc-light.h1.g1") is not None

    stats = host.stats("sc-light.h1.g1")
    assert stats["mem_limit"] == 128 * 1024 * 1024
    assert 0 < stats["mem_bytes"] < stats["mem_limit"]
    assert stats["cpu_percent"] >= 0 and stats["cpu_limit"] == 0.25

    host.stop("sc-light.h1.g1", timeout=2)
    assert host.inspect("sc-light.h1.g1").state == "exited"
    assert host.remove("sc-light.h1.g1") is True
    assert host.remove("sc-light.h1.g1") is False
    assert host.list_workers() == []


def test_command_runs_without_a_shell(host, worker_images):
    c = host.create_worker("light", "cmd1", "echo", "debian:bookworm-slim",
                           ["sh", "-c", "echo node=$SIMPLECLOUD_NODE; sleep 30"], 9000,
                           cpus=0.25, memory_mb=64, gen="g1")
    host.start(c.name)
    wait_until(lambda: "node=cmd1" in host.logs(c.name), timeout=10,
               what="the command's output")
    # a string command would go through a shell: refused with a clear message
    with pytest.raises(errors.ValidationError, match="list of strings"):
        host.create_worker("light", "cmd2", "echo", "debian:bookworm-slim", "echo hi", 9000,
                           cpus=0.25, memory_mb=64, gen="g1")


def test_missing_image_and_missing_container(host):
    assert host.image_exists("simplecloud/does-not-exist:nope") is False
    assert host.image_exists("debian:bookworm-slim") is True
    with pytest.raises(errors.NotFound, match="is not on host pod-test; push it"):
        host.create_worker("light", "x1", "x", "simplecloud/does-not-exist:nope", None, 80,
                           cpus=0.25, memory_mb=64, gen="g1")
    assert host.list_workers() == []     # nothing half-created
    with pytest.raises(errors.NotFound):
        host.start("sc-light-nope")
    with pytest.raises(errors.NotFound):
        host.inspect("sc-light-nope")


def test_duplicate_name_is_a_conflict(host, worker_images):
    host.create_worker("light", "d1", "light", worker_images["light"], None, 8000, 0.25, 64, gen="g1")
    with pytest.raises(errors.Conflict):
        host.create_worker("light", "d1", "light", worker_images["light"], None, 8000, 0.25, 64, gen="g1")


def test_unreachable_host_and_pool(test_network):
    bad = DockerHost("unix:///nonexistent/docker.sock", test_network, name="pod-gone")
    with pytest.raises(HostUnavailable, match="pod-gone"):
        bad.list_workers()
    pool = HostPool(LinkSettings(docker_hosts={"*": DOCKER_URL}, pod_network=test_network))
    assert pool.get("pod-light") is pool.get("pod-light")
    assert pool.get("pod-heavy").base_url == DOCKER_URL
    with pytest.raises(errors.ValidationError, match="docker_hosts"):
        HostPool(LinkSettings(docker_hosts={}, pod_network=test_network)).get("pod-x")
