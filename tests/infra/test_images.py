"""The job images are in the manager's registry and on every pod host."""
import json

import pytest

JOBS = ["light", "medium", "heavy"]


def test_registry_catalog_has_jobs(manager):
    catalog = json.loads(manager.check_output("curl -fsS http://manager:5050/v2/_catalog"))
    assert {f"simplecloud/{j}" for j in JOBS} <= set(catalog["repositories"])


@pytest.mark.parametrize("job", JOBS)
def test_pod_has_job_image(pod, job):
    _, host, _ = pod
    assert host.run(f"docker image inspect manager:5050/simplecloud/{job}").rc == 0


def test_pod_has_base_image(pod):
    _, host, _ = pod
    assert host.run("docker image inspect debian:bookworm-slim").rc == 0
