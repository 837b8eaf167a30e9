"""The job images are in every manager's registry and on every Docker host."""
import json

import pytest

JOBS = ["light", "medium", "heavy"]


def test_each_registry_has_the_jobs_and_the_base_image(each_manager):
    """Each manager's own registry (its lab address, not the virtual IP):
    whichever holds the address serves them, and a manager's loss takes
    nothing from the others."""
    name, host = each_manager
    catalog = json.loads(host.check_output(f"curl -fsS http://{name}:5050/v2/_catalog"))
    assert {f"simplecloud/{j}" for j in JOBS} | {"debian"} <= set(catalog["repositories"])


@pytest.mark.parametrize("job", JOBS)
def test_pod_has_job_image(pod, job):
    _, host, _ = pod
    assert host.run(f"docker image inspect registry:5050/simplecloud/{job}").rc == 0


def test_pod_has_base_image(pod):
    _, host, _ = pod
    assert host.run("docker image inspect debian:bookworm-slim").rc == 0
