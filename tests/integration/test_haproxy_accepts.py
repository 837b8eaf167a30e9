"""Whatever the validation accepts, haproxy.cfg renders, and the real HAProxy
(``haproxy -c``) accepts the file: no accepted name, path, host, balance,
health path, image, command or port can break routing. The apps are drawn
by tests/unit/core/test_fuzz.py's strategies, from the schema's own patterns."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given

from orchestrator.core import schema, validate
from orchestrator.core.haproxy_config import HAProxySettings, render
from orchestrator.core.model import BALANCE_ALGORITHMS, Server
from orchestrator.core.naming import backend_name
from tests.unit.core.test_fuzz import FEW, clusters

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


@pytest.fixture(scope="module")
def haproxy_settings(tmp_path_factory):
    assert shutil.which(HAPROXY), f"{HAPROXY} not installed (make test-deps)"
    d = tmp_path_factory.mktemp("hap")
    (d / "state").write_text("1\n")
    return HAProxySettings(haproxy_admin_socket=str(d / "admin.sock"), haproxy_state_file=str(d / "state"),
                           frontend_bind="127.0.0.1:18080", stats_bind="127.0.0.1:18404"), d


def assert_haproxy_accepts(path, text: str) -> None:
    path.write_text(text)
    check = subprocess.run([HAPROXY, "-c", "-q", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr + "\n" + text


@FEW
@given(cluster=clusters())
def test_every_accepted_app_renders_a_config_haproxy_accepts(haproxy_settings, cluster):
    cfg_settings, workdir = haproxy_settings
    apps, servers = cluster
    text = render(apps, servers, cfg_settings)
    assert_haproxy_accepts(workdir / "haproxy.cfg", text)


@pytest.mark.parametrize("balance", BALANCE_ALGORITHMS)
def test_every_balance_algorithm_renders_a_config_haproxy_accepts(haproxy_settings, balance):
    cfg_settings, workdir = haproxy_settings
    app = validate.app_of(validate.parse(schema.AppSpec, {"name": "web", "pod": "p", "port": 8000, "image": "web",
                                                          "path": "/web", "balance": balance}, "the app"), 0.0)
    servers = {backend_name(app): [Server(backend_name(app), "n1.0123456789", "10.42.0.2", 8000, "ready", None)]}
    text = render([app], servers, cfg_settings)
    assert f"    balance {balance}\n" in text
    assert_haproxy_accepts(workdir / f"haproxy-{balance}.cfg", text)
