"""The browser tier: the dashboard in Debian's chromium, driven by Playwright,
against a real manager on this machine.

``manager``: the integration tier's small cluster (real etcd, real HAProxy,
the local dockerd as pod host "pod-test", pod and app "ctl") with the whole
controller running (reconciler, HAProxy sync, metrics sampler with HAProxy's
request log, autoscaler, waker) and the manager's web app
(``create_app(..., controller=...)``) served by waitress on a free port of
127.0.0.1, as ``simplecloud-manager`` serves it. Everything is torn down
after each test.

``page``: a fresh browser context and page in chromium, launched once per
session from /usr/bin/chromium (Playwright's own browser download is not
reachable from these machines).

pytest accepts ``pytest_plugins`` here because this conftest is an initial
one whenever the tier is run as ``pytest tests/browser`` (make test-browser);
no top-level tests/conftest.py is needed, so the unit tier loads none of this.
"""
from __future__ import annotations

import dataclasses
import threading
import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import sync_playwright
from waitress.server import create_server

from orchestrator.api import create_app
from orchestrator.control.controller import Controller
from orchestrator.server import build_controller, build_haproxy
from orchestrator.usecases import UseCases
from tests.turns import take_dockerd_turn

# (their modules must not be imported above: pytest rewrites their asserts when it loads them)
pytest_plugins = [
    "tests.integration.fixtures_edges",
    "tests.integration.fixtures_etcd",
    "tests.integration.fixtures_ssh",
    "tests.integration.fixtures_cluster",
]

CHROMIUM = "/usr/bin/chromium"
TOKEN = "browser-token-" + uuid.uuid4().hex


@dataclass
class Manager:
    url: str            # http://127.0.0.1:<port> (the dashboard at /, the API under /api)
    token: str
    cases: UseCases
    controller: Controller
    cluster: object     # tests.integration.fixtures_cluster.Cluster
    app: object         # the Flask app being served

    @property
    def store(self):
        return self.cluster.store

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def manager(cluster):
    """The manager process's parts, in this process, on a free port."""
    from tests.integration.fixtures_edges import free_port

    settings = cluster.settings.updated(decision_interval=1.0, metrics_interval=0.5, waker_port=free_port(),
                                        start_timeout=20.0)
    # A driver of our own: it renders haproxy.cfg with the request log below
    # (the HAProxy sync sees the changed settings and reloads HAProxy once).
    driver = build_haproxy(settings)
    cases = UseCases.over(cluster.store, cluster.pool)
    controller = build_controller(cluster.store, cluster.pool, driver, settings, scaler=cases.apps)
    # the receiver binds a free port first, so no other test's HAProxy can send into it
    driver.settings = dataclasses.replace(settings.haproxy, haproxy_log_port=controller.sampler.listen(0))
    app = create_app(cases, token=TOKEN, controller=controller)
    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="simplecloud-test")
    serving = threading.Thread(target=server.run, name="waitress", daemon=True)
    stop = threading.Event()
    controller.start(stop)
    serving.start()
    try:
        yield Manager(f"http://127.0.0.1:{server.effective_port}", TOKEN, cases, controller, cluster,
                      app)
    finally:
        server.close()
        serving.join(10)
        for channel in list(server._map.values()):      # connections a browser left open
            channel.close()
        serving.join(10)
        server.task_dispatcher.shutdown()
        stop.set()
        assert controller.join(20), "the controller did not stop"
        assert not serving.is_alive(), "waitress did not stop"


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, manager):
    """A fresh tab (its own sessionStorage), closed before the manager stops;
    an uncaught error in the page's script fails the test, and so does
    anything the manager's Content-Security-Policy refused (``tab.refused``,
    from the console: the dashboard must work under it)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.refused = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: tab.refused.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        yield tab
    finally:
        context.close()
    assert errors == [], f"the page's script failed: {errors}"
    assert tab.refused == [], f"the Content-Security-Policy refused: {tab.refused}"


def pytest_configure(config):
    """Take this machine's dockerd turn before anything starts (tests/turns.py)."""
    take_dockerd_turn("browser")
