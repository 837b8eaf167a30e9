"""The dashboard in a real browser against a real manager (see conftest.py).

One fact per test. The page is read the way a user reads it (labels, roles,
the rows of a table); what it claims is checked against the store, Docker
and HAProxy. Playwright's ``expect`` polls until its bounded timeout; the
back end is polled with ``wait_until``; nothing sleeps.
"""
from __future__ import annotations

import os
import re
import shutil

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.bodies import app_update
from tests.integration.fixtures_cluster import all_healthy
from tests.integration.fixtures_edges import wait_until

pytestmark = pytest.mark.browser

UI = 10_000          # ms: the page follows the API (polls every 2 s)
CONTAINERS = 45_000  # ms: the controller starts or removes workers


def log_in(page: Page, manager, token: str | None = None) -> None:
    page.goto(manager.url + "/")
    page.get_by_label("API token").fill(token or manager.token)
    page.get_by_role("button", name="Log in").click()


def logged_in(page: Page, manager) -> None:
    log_in(page, manager)
    expect(page.get_by_test_id("pods")).to_be_visible(timeout=UI)


def one_serving(manager) -> None:
    """App ctl with one node that serves (the cluster fixture has it at zero)."""
    manager.cases.apps.scale("ctl", 1)
    wait_until(lambda: all_healthy(manager.cluster, ["ctl-1"]), 45, what="ctl-1 to serve")


def running(docker_client, manager) -> list[str]:
    return sorted(c.labels["simplecloud.node"] for c in manager.cluster.containers(docker_client, all_=False))


def app_row(page: Page, app: str):
    return page.get_by_test_id(f"app-{app}")


def col(row, name: str):
    return row.locator(f'[data-col="{name}"]')


def test_a_wrong_token_is_refused_with_a_readable_message(page, manager):
    log_in(page, manager, token="not-the-token")
    expect(page.get_by_role("alert").filter(has_text="not accepted")).to_contain_text(
        ".simplecloud/token", timeout=UI)
    expect(page.get_by_test_id("pods")).to_be_hidden()
    expect(page.get_by_label("API token")).to_be_visible()


def test_a_token_the_manager_stops_accepting_brings_the_login_back(page, manager):
    logged_in(page, manager)
    manager.app.config["SIMPLECLOUD_TOKEN"] = "a-new-token"     # as after a token rotation
    expect(page.get_by_role("alert").filter(has_text="no longer accepts your token")).to_be_visible(timeout=UI)
    expect(page.get_by_test_id("pods")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_after_login_the_pods_nodes_and_apps_are_those_of_the_store(page, manager):
    manager.cases.apps.scale("ctl", 2)
    logged_in(page, manager)
    store = manager.store
    pods, apps, nodes = store.list_pods(), store.list_apps(), store.list_nodes()
    expect(page.get_by_test_id("pods").locator("tbody tr")).to_have_count(len(pods), timeout=UI)
    for pod in pods:
        row = page.get_by_test_id(f"pod-{pod.name}")
        used = sum(1 for n in nodes if n.pod == pod.name)
        expect(col(row, "nodes")).to_have_text(f"{used} / {pod.max_nodes}")
        expect(col(row, "host")).to_have_text(", ".join(pod.hosts))
    expect(page.get_by_test_id("apps").locator("tbody tr")).to_have_count(len(apps))
    for app in apps:
        row = app_row(page, app.name)
        expect(col(row, "route")).to_have_text(app.path)
        expect(col(row, "balance")).to_have_text(app.balance)
        expect(col(row, "replicas")).to_have_text(str(sum(1 for n in nodes if n.app == app.name)))
    expect(page.get_by_test_id("nodes").locator("tbody tr")).to_have_count(len(nodes))
    for node in nodes:
        row = page.get_by_test_id(f"node-{node.pod}-{node.name}")
        expect(col(row, "app")).to_have_text(node.app)
        expect(col(row, "desired")).to_have_text(str(node.status))


def test_scaling_in_the_page_to_two_makes_two_nodes_run(page, manager, docker_client):
    one_serving(manager)
    logged_in(page, manager)
    page.get_by_label("Replicas of ctl").fill("2")
    page.get_by_role("button", name="Scale ctl").click()
    expect(page.get_by_test_id("action-message")).to_have_text("Scale ctl to 2: done", timeout=UI)
    assert sorted(n.name for n in manager.store.list_nodes("ctl")) == ["ctl-1", "ctl-2"]
    wait_until(lambda: running(docker_client, manager) == ["ctl-1", "ctl-2"], 45,
               what="two running ctl containers")
    expect(col(app_row(page, "ctl"), "serving")).to_have_text("2", timeout=CONTAINERS)
    for node in ("ctl-1", "ctl-2"):
        expect(col(page.get_by_test_id(f"node-ctl-{node}"), "observed")).to_have_text("serving")


def test_the_apps_warm_pool_shows_in_its_row_and_its_node_as_warm(page, manager):
    one_serving(manager)
    logged_in(page, manager)
    expect(col(app_row(page, "ctl"), "warm")).to_have_text("–", timeout=UI)
    manager.cases.apps.update("ctl", app_update(warm=1))
    (warm,) = [n.name for n in manager.store.list_nodes("ctl") if n.warm]
    expect(col(app_row(page, "ctl"), "warm")).to_have_text("1 / 1", timeout=CONTAINERS)
    expect(col(page.get_by_test_id(f"node-ctl-{warm}"), "observed")).to_have_text("warm")
    expect(col(app_row(page, "ctl"), "replicas")).to_have_text("1")


def test_pausing_and_resuming_the_pod_from_the_page(page, manager):
    one_serving(manager)
    logged_in(page, manager)
    node = page.get_by_test_id("node-ctl-ctl-1")
    page.get_by_role("button", name="Pause pod ctl").click()
    expect(col(node, "desired")).to_have_text("PAUSED", timeout=UI)
    assert [str(n.status) for n in manager.store.list_nodes("ctl")] == ["PAUSED"]
    expect(col(node, "observed")).to_have_text("paused", timeout=CONTAINERS)
    page.get_by_role("button", name="Resume pod ctl").click()
    expect(col(node, "desired")).to_have_text("ONLINE", timeout=UI)
    assert [str(n.status) for n in manager.store.list_nodes("ctl")] == ["ONLINE"]
    expect(col(node, "observed")).to_have_text("serving", timeout=CONTAINERS)


def test_stopping_the_app_takes_a_confirmation(page, manager, docker_client):
    one_serving(manager)
    logged_in(page, manager)
    stop = page.get_by_role("button", name="Stop app ctl")
    dialog = page.get_by_role("dialog")
    stop.click()
    expect(dialog).to_contain_text("Stop app ctl?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert manager.store.get_app("ctl") is not None
    stop.click()
    dialog.get_by_role("button", name="Stop the app").click()
    expect(page.get_by_test_id("action-message")).to_have_text("Stop ctl: done", timeout=UI)
    assert manager.store.get_app("ctl") is None and manager.store.list_nodes("ctl") == []
    expect(app_row(page, "ctl")).to_have_count(0, timeout=UI)
    wait_until(lambda: running(docker_client, manager) == [], 45, what="ctl's container to go")


def test_a_change_by_another_client_shows_without_a_reload(page, manager):
    logged_in(page, manager)
    expect(col(app_row(page, "ctl"), "replicas")).to_have_text("0", timeout=UI)
    r = requests.put(f"{manager.url}/api/apps/ctl/scale", json={"replicas": 3}, headers=manager.auth,
                     timeout=10)
    assert r.status_code == 200, r.text
    expect(col(app_row(page, "ctl"), "replicas")).to_have_text("3", timeout=UI)
    expect(page.get_by_test_id("nodes").locator("tbody tr")).to_have_count(3, timeout=UI)
    expect(page.get_by_test_id("events")).to_contain_text("app ctl scaled from 0 to 3", timeout=UI)


def test_the_sparklines_show_requests_after_a_bounded_load(page, manager, tmp_path):
    one_serving(manager)
    logged_in(page, manager)
    rps = page.get_by_test_id("spark-rps-ctl")
    expect(rps).to_have_attribute("data-peak", re.compile(r"^(?:0(?:\.0+)?)?$"), timeout=UI)
    answers = [requests.get(manager.cluster.hap.url + "/light", timeout=10).status_code for _ in range(40)]
    assert answers == [200] * 40
    nonzero = re.compile(r"^(?!0(?:\.0+)?$)\d")
    expect(rps).to_have_attribute("data-peak", nonzero, timeout=UI)
    expect(rps).to_have_attribute("aria-label", re.compile(r"^requests per second: now .*, peak "))
    expect(page.get_by_test_id("spark-p95-ctl")).to_have_attribute("data-peak", nonzero, timeout=UI)
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SIMPLECLOUD_DASHBOARD_PNG"):      # e.g. docs/dashboard.png, to refresh it
        shutil.copyfile(shot, os.environ["SIMPLECLOUD_DASHBOARD_PNG"])


def test_an_autoscale_decision_shows_in_the_events(page, manager):
    one_serving(manager)
    logged_in(page, manager)
    r = requests.put(f"{manager.url}/api/apps/ctl/autoscale", json={"min": 2, "max": 3, "rps": 50},
                     headers=manager.auth, timeout=10)
    assert r.status_code == 200, r.text
    decision = page.get_by_test_id("events").locator('li[data-kind="autoscale"]')
    expect(decision.first).to_contain_text("ctl", timeout=UI)
    assert any(e.kind == "autoscale" for e in manager.store.events(50))
    expect(col(app_row(page, "ctl"), "autoscale")).to_contain_text("2..3, rps 50/node")


def test_a_refused_action_shows_the_apis_error(page, manager):
    logged_in(page, manager)
    expected = requests.put(f"{manager.url}/api/apps/ctl/scale", json={"replicas": 7},
                            headers=manager.auth, timeout=10)
    assert expected.status_code == 409
    page.get_by_label("Replicas of ctl").fill("7")
    page.get_by_role("button", name="Scale ctl").click()
    expect(page.get_by_test_id("action-error")).to_have_text(
        "Scale ctl to 7 failed: " + expected.json()["error"], timeout=UI)
    assert manager.store.list_nodes("ctl") == []


def test_a_nodes_log_opens_from_its_row(page, manager):
    one_serving(manager)
    requests.get(manager.cluster.hap.url + "/light", timeout=5)      # one request line in the log
    logged_in(page, manager)
    page.get_by_role("button", name="Log of node ctl-1").click()
    log = page.get_by_test_id("log-text")
    expect(log).to_contain_text("simplecloud job light on node ctl-1 listening", timeout=UI)
    expect(log).to_contain_text("GET /light", timeout=UI)
    page.get_by_role("button", name="Close").click()
    expect(page.get_by_test_id("node-log")).to_be_hidden()


def test_the_dashboard_works_under_its_content_security_policy(page, manager):
    """Every test here runs the page under the manager's CSP (the page
    fixture fails one the policy refused anything in); this one shows the
    policy is really enforced: an inline script put into the page never runs."""
    answer = page.goto(manager.url + "/")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    logged_in(page, manager)
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.injected = true'; document.body.append(s); }""")
    expect(page.get_by_test_id("pods")).to_be_visible()
    assert page.evaluate("window.injected === undefined")
    assert any("inline script" in text for text in page.refused)
    page.refused.clear()                     # the one refusal this test caused on purpose
