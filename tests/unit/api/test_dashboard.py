"""The dashboard's web layer through Flask's test client: the page and its
assets are served without a token and without a build step, and
/api/dashboard assembles one snapshot from the use cases (over the in-memory
FakeStore) and the controller's sampler (a stand-in here; the browser tier
runs the real one)."""
from __future__ import annotations

import re

import pytest

from orchestrator.api import create_app
from orchestrator.api.dashboard import EVENTS, SERIES_SECONDS, SERIES_STEP
from orchestrator.observe.telemetry import Telemetry
from orchestrator.usecases import UseCases
from tests.unit.api import AUTH, TOKEN

ASSETS = {"/static/dashboard.js": "javascript", "/static/dashboard.css": "text/css"}


class Sampler:
    def __init__(self):
        self.asked = []

    def figures(self):
        return {"light": {"rps": 4.0, "p95_ms": 12.0}}

    def series(self, seconds, step):
        self.asked.append((seconds, step))
        return {"light": [{"t": 0.0, "rps": 4.0, "p95_ms": 12.0, "serving": 1, "inflight": 0.5}]}


class RunningController:
    def __init__(self):
        self.sampler = Sampler()
        self.telemetry = Telemetry()


@pytest.fixture
def cluster(store):
    client = create_app(UseCases.over(store), token=TOKEN).test_client()
    assert client.post("/api/init", headers=AUTH).status_code == 200
    return client


def test_the_page_and_its_assets_need_no_token_and_no_build_step(cluster):
    with cluster.get("/") as page:
        assert page.status_code == 200 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
    assert 'src="/static/dashboard.js"' in html and 'href="/static/dashboard.css"' in html
    for path, kind in ASSETS.items():
        with cluster.get(path) as asset:
            assert asset.status_code == 200 and kind in asset.mimetype, path
            text = asset.get_data(as_text=True)
        # no CDN, no module bundler: nothing is fetched from elsewhere
        assert not re.search(r"""(?:src|href)=["']?https?:|import\s|require\(|@import""", text), path
    assert cluster.get("/static/nothing.js").status_code == 404


def test_the_snapshot_needs_the_token(cluster):
    r = cluster.get("/api/dashboard")
    assert r.status_code == 401 and "token" in r.get_json()["error"]
    wrong = cluster.get("/api/dashboard", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_the_snapshot_holds_the_use_cases_views_and_no_figures_without_a_controller(cluster, store):
    for i in range(EVENTS + 5):
        store.record_event("test.filler", "test", f"event {i}")
    snap = cluster.get("/api/dashboard", headers=AUTH).get_json()
    assert snap["controller"] is False and snap["figures"] == {} and snap["series"] == {}
    assert snap["pods"] == cluster.get("/api/pods", headers=AUTH).get_json()
    assert snap["nodes"] == cluster.get("/api/nodes", headers=AUTH).get_json()
    assert snap["apps"] == cluster.get("/api/apps", headers=AUTH).get_json()
    assert snap["events"] == cluster.get(f"/api/events?limit={EVENTS}", headers=AUTH).get_json()
    assert len(snap["events"]) == EVENTS


def test_the_snapshot_carries_the_samplers_figures_and_series(store):
    controller = RunningController()
    client = create_app(UseCases.over(store), token=TOKEN, controller=controller).test_client()
    snap = client.get("/api/dashboard", headers=AUTH).get_json()
    assert snap["controller"] is True
    assert snap["figures"] == controller.sampler.figures()
    assert snap["series"]["light"][0]["rps"] == 4.0
    assert controller.sampler.asked == [(SERIES_SECONDS, SERIES_STEP)]
