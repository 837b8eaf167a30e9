"""Fixtures for the edges: the local dockerd, worker images, a test network, HAProxy.

Nothing here is mocked: ``docker_client`` talks to the real dockerd on
unix:///var/run/docker.sock, ``haproxy_proc`` starts the real
/usr/sbin/haproxy in master-worker mode on 127.0.0.1 with its sockets in a
fresh temp dir.

Every container a test makes carries ``simplecloud.test=1`` plus this
session's ``simplecloud.testrun=<id>`` (use ``test_labels`` as
``extra_labels``). At the end of the session every container of this run, or
attached to this session's test network, is removed, then the network. At the
start, what a run that was killed left behind (its ``simplecloud.testpid``
process is gone) is removed.

Container names are "sc-<pod>.<node>.<gen>" and the tests use fixed pod
names, so two runs on one dockerd would collide: tests/conftest.py makes the
tiers that use dockerd take turns (``dockerd_turn``).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from orchestrator.core.haproxy_config import render
from orchestrator.edges.haproxy import HAProxy, HAProxyError
from orchestrator.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKER_URL = "unix:///var/run/docker.sock"
BASE_IMAGE = "debian:bookworm-slim"
JOBS = ("light", "medium", "heavy")
RUN_ID = uuid.uuid4().hex[:8]
TEST_LABELS = {"simplecloud.test": "1", "simplecloud.testrun": RUN_ID,
               "simplecloud.testpid": str(os.getpid())}


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768                         # Linux's default


_PORT_SPAN = 8000
_PORT_BASE = max(1024, _ephemeral_low() - _PORT_SPAN)
_next_port = itertools.count((os.getpid() * 131) % _PORT_SPAN)   # from an offset by process; next() is atomic


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on now, below the kernel's
    ephemeral range and never handed out twice by this process. A port picked
    by binding to 0 comes from the ephemeral range: let go, it can be taken as
    the local port of any outgoing connection before the server meant to
    listen on it starts, which then fails with 'address already in use' (an
    HA test's etcd member did, 2026-12-06)."""
    for _ in range(_PORT_SPAN):
        port = _PORT_BASE + next(_next_port) % _PORT_SPAN
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue                     # somebody listens there, or it is closing
            return port
    raise RuntimeError(f"no free port in {_PORT_BASE}-{_PORT_BASE + _PORT_SPAN - 1}")


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):     # thousands of requests: the tests report them
        pass


@contextlib.contextmanager
def serve_wsgi(app):
    """``app`` served by werkzeug (threaded) on a free port of 127.0.0.1:
    yields its base URL; shut down and closed on the way out."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def stop_process(proc: subprocess.Popen, timeout: float = 10, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` s; ``group``: the whole process group."""
    if proc.poll() is not None:
        return
    term = (lambda sig: os.killpg(proc.pid, sig)) if group else proc.send_signal
    term(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        term(signal.SIGKILL)
        proc.wait(timeout=5)


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - whatever docker-py raises, the tier cannot run - reported below if it never succeeds
            last_exc = exc
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}"
                + (f" (last error: {last_exc})" if last_exc else ""))


@pytest.fixture(scope="session")
def test_labels() -> dict[str, str]:
    """Labels for every container tests create (pass as ``extra_labels``)."""
    return dict(TEST_LABELS)


@pytest.fixture(scope="session")
def docker_client():
    client = docker.DockerClient(base_url=DOCKER_URL, timeout=120)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - whatever docker-py raises, the tier cannot run
        pytest.fail(f"dockerd does not answer on {DOCKER_URL} ({exc}); start it with "
                    "`dockerd >/var/log/dockerd.log 2>&1 &` and wait for `docker info`")
    _remove_dead_runs(client)
    yield client
    client.close()


def _remove_dead_runs(client) -> None:
    """Remove the containers and networks of test runs whose process is gone
    (a run killed before its finalizer), never those of a run still going. A
    container of a run from before ``simplecloud.testpid`` is removed once it
    has stopped."""
    def dead(labels: dict[str, str]) -> bool:
        pid = labels.get("simplecloud.testpid", "")
        return pid.isdigit() and not Path(f"/proc/{pid}").exists()
    for c in client.containers.list(all=True, filters={"label": "simplecloud.test"}):
        if dead(c.labels) or ("simplecloud.testpid" not in c.labels and c.status in ("exited", "dead", "created")):
            _force_remove(c)
    for net in client.networks.list(filters={"label": "simplecloud.testpid"}):
        if dead(net.attrs.get("Labels") or {}):
            with contextlib.suppress(docker.errors.APIError):
                net.remove()


@pytest.fixture(scope="session", autouse=True)
def _remove_test_containers():
    """Session finalizer: remove this run's containers (see module docstring)."""
    yield
    try:
        client = docker.DockerClient(base_url=DOCKER_URL, timeout=60)
        client.ping()
    except Exception:  # noqa: BLE001 - no dockerd, nothing to clean
        return
    for c in client.containers.list(all=True, filters={"label": f"simplecloud.testrun={RUN_ID}"}):
        _force_remove(c)
    client.close()


def _force_remove(container) -> None:
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass


@pytest.fixture(scope="session")
def worker_images(docker_client) -> dict[str, str]:
    """simplecloud/light|medium|heavy, built by images/jobs/build.sh if missing."""
    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        res = subprocess.run(["bash", str(REPO / "images" / "base.sh")], capture_output=True,
                             text=True, timeout=600)
        if res.returncode != 0:
            pytest.fail(f"images/base.sh could not provide {BASE_IMAGE}:\n{res.stdout}{res.stderr}")
    images = {job: f"simplecloud/{job}" for job in JOBS}
    missing = []
    for job, tag in images.items():
        try:
            docker_client.images.get(tag)
        except docker.errors.ImageNotFound:
            missing.append(job)
    if missing:     # the one build path of the job images (the manager runs it too)
        res = subprocess.run(["sh", str(REPO / "images" / "jobs" / "build.sh"), "simplecloud/", *missing],
                             capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            pytest.fail(f"images/jobs/build.sh failed:\n{res.stdout}{res.stderr}")
    return images


@pytest.fixture(scope="session")
def test_network(docker_client) -> str:
    """A bridge network ``sc-test-<id>`` in 10.242.0.0/16, removed at the end."""
    name = f"sc-test-{RUN_ID}"
    used = set()
    for net in docker_client.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            used.add(cfg.get("Subnet"))
    start = int(RUN_ID[:2], 16)
    candidates = (f"10.242.{(start + i) % 256}.0/24" for i in range(256))
    subnet = next((s for s in candidates if s not in used), None)
    if subnet is None:
        pytest.fail("no free /24 left in 10.242.0.0/16; remove old sc-test-* networks")
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
    net = docker_client.networks.create(name, driver="bridge", ipam=ipam,
                                        labels=dict(TEST_LABELS), check_duplicate=True)
    yield name
    net.reload()
    for c in net.containers:
        _force_remove(c)
    net.remove()


@dataclass
class HAProxyProc:
    """A running HAProxy: its driver, settings, URLs and process."""

    driver: HAProxy
    settings: Settings
    url: str            # http://127.0.0.1:<port> (the frontend)
    stats_url: str      # http://127.0.0.1:<port>/stats
    proc: subprocess.Popen
    workdir: Path


def edge_settings(workdir: Path, network: str) -> Settings:
    """Settings pointing every HAProxy path into ``workdir``, docker at the local engine."""
    return Settings.of(
        docker_hosts={"*": DOCKER_URL},
        pod_network=network,
        haproxy_config=str(workdir / "haproxy.cfg"),
        haproxy_admin_socket=str(workdir / "admin.sock"),
        haproxy_master_socket=str(workdir / "master.sock"),
        haproxy_state_file=str(workdir / "server-state"),
        haproxy_bin=shutil.which("haproxy") or "/usr/sbin/haproxy",
        frontend_bind=f"127.0.0.1:{free_port()}",
        stats_bind=f"127.0.0.1:{free_port()}",
        # no request log: HAProxies of tests running side by side must never send into
        # one another's metrics receiver; tests of the metrics pick a port of their own
        haproxy_log_port=0,
        reconcile_interval=1.0,
    )


def master_answers(driver: HAProxy) -> bool:
    try:
        return "master" in driver.command("show proc", master=True)
    except HAProxyError:
        return False


@pytest.fixture
def haproxy_proc(test_network):
    """A real HAProxy (``haproxy -W -S master.sock -f haproxy.cfg``) with no apps yet."""
    with haproxy_process(test_network) as running:
        yield running


@contextlib.contextmanager
def haproxy_process(test_network: str):
    """A real HAProxy of one's own (the HA tests run one per manager)."""
    workdir = Path(tempfile.mkdtemp(prefix="sc-hap-"))   # short: unix socket paths ≤ 107 bytes
    settings = edge_settings(workdir, test_network)
    driver = HAProxy(settings.haproxy)
    Path(settings.haproxy.haproxy_state_file).write_text("1\n")
    Path(settings.haproxy.haproxy_config).write_text(render([], {}, settings.haproxy,
                                                    prometheus=driver.prometheus_supported()))
    log = open(workdir / "haproxy.log", "w")
    proc = subprocess.Popen([settings.haproxy.haproxy_bin, "-W", "-S", settings.haproxy.haproxy_master_socket,
                             "-f", settings.haproxy.haproxy_config],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        # ready when both answer: the worker's admin socket, and the master's
        # socket that reloads go through (it can come up after the worker's)
        while not (driver.alive() and master_answers(driver)):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("haproxy did not start:\n" + (workdir / "haproxy.log").read_text())
            time.sleep(0.05)
        host_port = settings.haproxy.frontend_bind
        yield HAProxyProc(driver=driver, settings=settings, url=f"http://{host_port}",
                          stats_url=f"http://{settings.haproxy.stats_bind}/stats", proc=proc,
                          workdir=workdir)
    finally:
        stop_process(proc, timeout=5, group=True)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
