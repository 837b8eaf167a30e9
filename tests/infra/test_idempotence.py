"""A second run of site.yml changes nothing on any host (runner's stats)."""
import pytest

from playbooks import provision

from .conftest import MACHINES


@pytest.mark.single_host
def test_second_provisioning_changes_nothing():
    lines = []
    runner, progress = provision.provision(write=lines.append)     # the lab's provider, as make provision
    assert runner.rc == 0, "\n".join(progress.failures + lines[-20:])
    hosts = provision.summary(runner.stats)     # runner's stats leave out hosts with 0
    assert set(hosts) == set(MACHINES), runner.stats
    assert {h: n["changed"] for h, n in hosts.items()} == {h: 0 for h in MACHINES}, \
        [line for line in lines if "changed" in line]
