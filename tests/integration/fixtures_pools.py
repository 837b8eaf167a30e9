"""Two hosts of one pod: the local dockerd and a spare dockerd routed like a lab host.

``second_host`` (module): the spare engine of fixtures_ssh.py (its own network
namespace), reachable from this machine the way a lab host is (host-gw):
a veth pair into its namespace (10.243.<n>.0/30), the test network created
on it with a worker subnet of its own (10.244.<n>.0/24) and a route to that
subnet through the veth, so HAProxy on 127.0.0.1 reaches its workers exactly
as it reaches the local engine's. The light job's image is copied into it.

``freeze()`` stops the whole "machine": every container paused (the cgroup
freezer, as ``docker pause`` of a lab machine does), then the engine itself
(SIGSTOP): its workers stop answering and so does its Docker API.
``thaw()`` undoes both.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass

import docker
import pytest

from .fixtures_edges import RUN_ID, TEST_LABELS
from .fixtures_ssh import SpareEngine, spare_engine


@dataclass
class SecondHost:
    engine: SpareEngine
    url: str                  # unix:// socket of its Docker API
    subnet: str               # its worker subnet
    client: docker.DockerClient

    def freeze(self) -> None:
        for c in self.client.containers.list(filters={"status": "running"}):
            c.pause()
        self.engine.stall()

    def thaw(self) -> None:
        """The engine resumed, then every container still paused unpaused. The
        controller may remove a stale one meanwhile (its host answers again):
        that one is left to it; any other refusal fails the test."""
        self.engine.resume()
        for c in self.client.containers.list(filters={"status": "paused"}):
            try:
                c.unpause()
            except docker.errors.APIError:
                try:
                    c.reload()
                except docker.errors.NotFound:
                    continue
                if c.status == "paused":
                    raise


def _run(*argv: str) -> None:
    """Run a command of the machine's; the test fails with its error if it does."""
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def second_host(docker_client, worker_images, test_network):
    n = 100 + int(RUN_ID[:2], 16) % 100
    link, inner, subnet = f"sc-vp{RUN_ID[:6]}", f"sc-vq{RUN_ID[:6]}", f"10.244.{n}.0/24"
    with spare_engine() as engine:
        _run("ip", "link", "add", link, "type", "veth", "peer", "name", inner)
        try:
            _run("ip", "link", "set", inner, "netns", str(engine.pid))
            _run("ip", "addr", "add", f"10.243.{n}.1/30", "dev", link)
            _run("ip", "link", "set", link, "up")
            _run("nsenter", "-t", str(engine.pid), "-n", "sh", "-c",
                 f"ip addr add 10.243.{n}.2/30 dev {inner} && ip link set {inner} up && ip link set lo up && "
                 f"ip route add default via 10.243.{n}.1 && sysctl -qw net.ipv4.ip_forward=1")
            client = docker.DockerClient(base_url=f"unix://{engine.socket}", timeout=120, version="1.41")
            _run("sh", "-c", f"docker save {worker_images['light']} | docker -H unix://{engine.socket} load")
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
            client.networks.create(test_network, driver="bridge", ipam=ipam, labels=dict(TEST_LABELS))
            _run("ip", "route", "add", subnet, "via", f"10.243.{n}.2")
            yield SecondHost(engine, f"unix://{engine.socket}", subnet, client)
            client.close()
        finally:
            subprocess.run(["ip", "route", "del", subnet], capture_output=True)
            subprocess.run(["ip", "link", "del", link], capture_output=True)
