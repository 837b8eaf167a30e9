"""The API keeps its OpenAPI contract: schemathesis, every check, zero failures.

A real manager API (``create_app`` over the real use cases and a real etcd
``Store`` under this test's own prefix) is served by werkzeug on a free port
of 127.0.0.1; schemathesis reads /api/openapi.json from it and runs all its
checks (no 5xx, status codes and bodies as documented, schema-valid input
accepted, schema-invalid input refused, auth enforced, ...) with a bounded
number of examples per operation.

No controller runs, so nothing schemathesis deploys, scales or deletes ever
reaches a container: the API only writes desired state. The local Docker
engine is asked read-only (does an image exist, which containers does a node
have) through a HostPool that sees only containers labelled with this run's
id, i.e. none.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from orchestrator.api import create_app
from orchestrator.edges.hostpool import HostPool
from orchestrator.settings import Settings
from orchestrator.usecases import UseCases
from tests.integration.fixtures_edges import DOCKER_URL, serve_wsgi

pytestmark = pytest.mark.integration

TOKEN = "contract-token-" + uuid.uuid4().hex
# per operation and phase; 50 takes about half a minute. Override to dig deeper.
MAX_EXAMPLES = os.environ.get("SIMPLECLOUD_CONTRACT_EXAMPLES", "50")
SEED = os.environ.get("SIMPLECLOUD_CONTRACT_SEED", "7")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")      # where a schema-valid request may be refused


@pytest.fixture
def api_url(store, tmp_path):
    """Base URL of a manager API over ``store`` (a fresh etcd prefix), initialized."""
    settings = Settings.of(docker_hosts={"*": DOCKER_URL}, etcd_prefix=store.prefix)
    hosts = HostPool(settings.links, extra_labels={"simplecloud.test": "1",
                                                   "simplecloud.testrun": "contract-" + uuid.uuid4().hex[:8]})
    cases = UseCases.over(store, hosts)
    cases.cluster.init()
    try:
        with serve_wsgi(create_app(cases, token=TOKEN)) as url:
            yield url
    finally:
        hosts.close()


def test_schemathesis_finds_no_failure(api_url, tmp_path):
    run = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{api_url}/api/openapi.json", "--checks", "all",
         "-H", f"Authorization: Bearer {TOKEN}", "--max-examples", MAX_EXAMPLES, "--seed", SEED,
         "--workers", "1", "--generation-database", "none", "--no-color",
         "--report-dir", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    output = run.stdout + run.stderr
    (Path(__file__).parents[2] / ".simplecloud" / "logs").mkdir(parents=True, exist_ok=True)
    (Path(__file__).parents[2] / ".simplecloud" / "logs" / "schemathesis.log").write_text(output)
    assert run.returncode == 0, output[-20000:]
    assert "No issues found" in output or "passed" in output, output[-5000:]
