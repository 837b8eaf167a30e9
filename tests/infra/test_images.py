"""The job images are in every manager's registry and on every Docker host."""
import hashlib
import json

import pytest

from tests.infra.conftest import ROOT

JOBS = ["light", "medium", "heavy"]


def source_key() -> str:
    """Role worker_images' worker_images_source_key, computed the same way:
    the base image's id (images/build/base.id) and the job sources, in
    byte order of their paths, hashed."""
    jobs = [p for p in (ROOT / "images" / "jobs").rglob("*") if p.is_file() and p.suffix != ".pyc"]
    files = [ROOT / "images" / "build" / "base.id", *sorted(jobs, key=lambda p: str(p).encode())]
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]


def test_each_registry_has_the_jobs_and_the_base_image(each_manager):
    """Each manager's own registry (its lab address, not the virtual IP):
    whichever holds the address serves them, and a manager's loss takes
    nothing from the others."""
    name, host = each_manager
    catalog = json.loads(host.check_output(f"curl -fsS http://{name}:5050/v2/_catalog"))
    assert {f"simplecloud/{j}" for j in JOBS} | {"debian"} <= set(catalog["repositories"])


def test_each_registry_has_the_images_of_these_sources(each_manager):
    """Each image also as src-KEY, KEY naming what it was built from: the
    next provisioning (after `make down`, which keeps the registries) finds
    them all and copies, builds and pushes nothing. A changed job source or
    base image gives a new key, so these tags show the build followed it."""
    name, host = each_manager
    for repo in [f"simplecloud/{j}" for j in JOBS] + ["debian"]:
        tags = json.loads(host.check_output(f"curl -fsS http://{name}:5050/v2/{repo}/tags/list"))["tags"]
        assert f"src-{source_key()}" in tags, (repo, tags)


@pytest.mark.parametrize("job", JOBS)
def test_pod_has_job_image(pod, job):
    _, host, _ = pod
    assert host.run(f"docker image inspect registry:5050/simplecloud/{job}").rc == 0


def test_pod_has_base_image(pod):
    _, host, _ = pod
    assert host.run("docker image inspect debian:bookworm-slim").rc == 0
