"""Worker hardening as the real dockerd records it (HostConfig of a created worker).

A hardened worker (the default) has the pids limit, no-new-privileges and
every capability dropped but model.KEPT_CAPABILITIES; a "relaxed" one keeps
Docker's default capabilities and only the pids limit. The containers are
created, never started, labelled ``simplecloud.test`` and removed at the end.
"""
from __future__ import annotations

import uuid

import docker
import pytest

from orchestrator.core.model import KEPT_CAPABILITIES
from orchestrator.edges.docker_host import DockerHost
from tests.integration.fixtures_edges import BASE_IMAGE, DOCKER_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def host():
    labels = {"simplecloud.test": "1", "simplecloud.testrun": "harden-" + uuid.uuid4().hex[:8]}
    h = DockerHost(DOCKER_URL, "bridge", name="local", extra_labels=labels)
    try:
        yield h
    finally:
        for c in h.list_workers():
            h.remove(c.name)
        h.close()


def host_config(name: str) -> dict:
    client = docker.DockerClient(base_url=DOCKER_URL)
    try:
        return client.api.inspect_container(name)["HostConfig"]
    finally:
        client.close()


def test_workers_are_hardened_unless_relaxed(host):
    strict = host.create_worker("hard", "n1", "web", BASE_IMAGE, ["sleep", "60"], 8000, 0.25, 64,
                                gen="t1", pids_limit=321)
    relaxed = host.create_worker("hard", "n2", "web", BASE_IMAGE, ["sleep", "60"], 8000, 0.25, 64,
                                 gen="t1", security="relaxed", pids_limit=321)
    hc = host_config(strict.name)
    assert hc["PidsLimit"] == 321
    assert hc["SecurityOpt"] == ["no-new-privileges:true"]
    assert hc["CapDrop"] == ["ALL"] and sorted(hc["CapAdd"]) == sorted(KEPT_CAPABILITIES)
    assert hc["NanoCpus"] == 250_000_000
    hc = host_config(relaxed.name)
    assert hc["PidsLimit"] == 321
    assert not hc.get("SecurityOpt") and not hc.get("CapDrop") and not hc.get("CapAdd")
