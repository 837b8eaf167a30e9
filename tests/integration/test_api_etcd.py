"""The REST API over a real etcd (fixture `store`) and the real local dockerd.

No controller runs here, so no container is ever created: the API only writes
desired state. The Docker engine is used read-only, for the image check of a
deploy. What this adds to the unit tests: the answers and refusals are the
same when etcd transactions (not a Python lock) guard capacity, including
under concurrent requests.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestrator.api import create_app
from orchestrator.edges.hostpool import HostPool
from orchestrator.settings import Settings
from orchestrator.usecases import UseCases
from tests.integration.fixtures_edges import DOCKER_URL

pytestmark = pytest.mark.integration

TOKEN = "integration-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(store, worker_images, tmp_path):
    settings = Settings.of(docker_hosts={"*": DOCKER_URL}, etcd_prefix=store.prefix)
    hosts = HostPool(settings.links)
    try:
        yield create_app(UseCases.over(store, hosts), token=TOKEN)
    finally:
        hosts.close()


@pytest.fixture
def client(app):
    c = app.test_client()
    assert c.post("/api/init", headers=AUTH).status_code == 200
    return c


def desired(store):
    """Every desired-state record, to check that a refused request wrote nothing."""
    return ([p.to_dict() for p in store.list_pods()], [a.to_dict() for a in store.list_apps()],
            [n.to_dict() for n in store.list_nodes()], [store.pod_node_count(p.name) for p in store.list_pods()])


def test_seed_commands_over_etcd(client, store):
    assert client.post("/api/nodes", headers=AUTH, json={"name": "n1", "pod": "light"}).status_code == 201
    assert client.post("/api/nodes", headers=AUTH, json={"name": "n2", "pod": "light"}).status_code == 201
    assert client.post("/api/pods/light/launch", headers=AUTH).get_json()["name"] == "n1"
    assert [n["status"] for n in client.get("/api/nodes?pod=light", headers=AUTH).get_json()] == ["ONLINE", "NEW"]
    assert len(client.post("/api/pods/light/pause", headers=AUTH).get_json()) == 1
    assert store.get_node("light", "n1").status == "PAUSED"
    assert len(client.post("/api/pods/light/resume", headers=AUTH).get_json()) == 1
    assert client.delete("/api/pods/light/nodes/n2", headers=AUTH).status_code == 200
    pods = {p["name"]: p for p in client.get("/api/pods", headers=AUTH).get_json()}
    assert (pods["light"]["used"], pods["light"]["statuses"]) == (1, {"ONLINE": 1})
    assert store.pod_node_count("light") == 1
    kinds = [e["kind"] for e in client.get("/api/events", headers=AUTH).get_json()]
    assert kinds[:3] == ["node.removed", "pod.resumed", "pod.paused"]


def test_apps_over_etcd_with_the_real_image_check(client, store, worker_images):
    r = client.post("/api/apps", headers=AUTH, json={
        "name": "web", "image": worker_images["light"], "pod": "medium", "replicas": 3, "port": 8000,
        "balance": "leastconn", "health_path": "/health"})
    assert r.status_code == 201, r.get_json()
    assert store.pod_node_count("medium") == 3
    assert client.put("/api/apps/web/scale", headers=AUTH, json={"replicas": 12}).get_json()["replicas"] == 12
    before = desired(store)
    r = client.put("/api/apps/web/scale", headers=AUTH, json={"replicas": 16})
    assert r.status_code == 409 and "pod 'medium' has room for 3 more" in r.get_json()["error"]
    assert desired(store) == before
    assert client.put("/api/apps/web/scale", headers=AUTH, json={"replicas": 0}).get_json()["replicas"] == 0
    assert client.delete("/api/apps/web", headers=AUTH).status_code == 200
    assert store.get_app("web") is None and store.pod_node_count("medium") == 0


@pytest.mark.parametrize("method, path, body, status, message", [
    ("POST", "/api/apps", {"name": "w", "image": "simplecloud/does-not-exist", "pod": "light", "port": 80},
     409, "image 'simplecloud/does-not-exist' does not exist on host pod-light"),
    ("POST", "/api/apps", {"name": "w", "image": "simplecloud/light", "pod": "light", "port": 80,
                           "balance": "uri"}, 400, "balance 'uri' is not supported"),
    ("POST", "/api/nodes", {"name": "n_1", "pod": "light"}, 400, "not a valid name"),
    ("POST", "/api/nodes", {"name": "n1", "pod": "nope"}, 404, "pod 'nope' does not exist"),
    ("DELETE", "/api/pods/light/nodes/ghost", None, 404, "ghost"),
    ("PUT", "/api/apps/light/scale", {"replicas": -2}, 400, "replicas"),
    ("PUT", "/api/apps/light/scale", {"replicas": 25}, 409, "room for 20"),
    ("POST", "/api/pods", {"name": "light", "host": "pod-light"}, 409, "light"),
])
def test_refusals_write_nothing_to_etcd(client, store, method, path, body, status, message):
    before = desired(store)
    r = client.open(path, method=method, json=body, headers=AUTH)
    assert r.status_code == status, r.get_json()
    assert message in r.get_json()["error"]
    assert desired(store) == before


def test_malformed_json_and_missing_token_write_nothing(client, store):
    before = desired(store)
    r = client.post("/api/nodes", headers=AUTH, data="{oops", content_type="application/json")
    assert r.status_code == 400 and "not valid JSON" in r.get_json()["error"]
    r = client.post("/api/nodes", json={"name": "n1", "pod": "light"})
    assert r.status_code == 401
    r = client.post("/api/nodes", json={"name": "n1", "pod": "light"}, headers={"Authorization": "Bearer no"})
    assert r.status_code == 401
    assert client.get("/api/nodes").status_code == 401        # reads need the token too
    assert desired(store) == before


def test_concurrent_registrations_never_overfill_a_pod(app, client, store):
    """25 requests race for the 20 slots of light: exactly 20 win, 5 get the 'full' answer."""
    def register(i):
        r = app.test_client().post("/api/nodes", headers=AUTH, json={"name": f"n{i}", "pod": "light"})
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(register, range(25)))
    codes = sorted(code for code, _ in results)
    assert codes == [201] * 20 + [409] * 5, results
    refusals = [body["error"] for code, body in results if code == 409]
    # refused by the use case's placement ("pod 'light' is full: ...") or, in a race, by the store's guard
    # ("pod 'light' has no room for 1 more node(s) on host pod-light: ..."): both say how full it is
    assert all(e.startswith("pod 'light' ") and "20/20 nodes, 5/5 CPUs" in e for e in refusals), "\n".join(refusals)
    assert store.pod_node_count("light") == 20 == len(store.list_nodes("light"))


def test_concurrent_deploys_of_one_path_let_exactly_one_through(app, client, store):
    """Route uniqueness is a key created in the deploy's transaction: 8 deploys
    of /shop at once, one app holds it, the others get a 409 naming it."""
    def deploy(i):
        r = app.test_client().post("/api/apps", headers=AUTH, json={
            "name": f"shop{i}", "command": ["sleep", "1d"], "pod": "medium", "port": 80, "path": "/shop"})
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(deploy, range(8)))
    assert sorted(code for code, _ in results) == [201] + [409] * 7, results
    winner = next(body["name"] for code, body in results if code == 201)
    assert all(f"already the route of app {winner!r}" in body["error"] for code, body in results if code == 409)
    assert [a.name for a in store.list_apps() if a.path == "/shop"] == [winner]


def test_concurrent_updates_of_one_app_lose_no_change(app, client, store):
    """Each PATCH compares the revision it read and, beaten, applies its change
    to the app as it is now: 6 PATCHes of 6 fields at once, all 6 kept."""
    assert client.post("/api/apps", headers=AUTH, json={
        "name": "web", "command": ["sleep", "1d"], "pod": "medium", "port": 80}).status_code == 201
    changes = [{"port": 8080}, {"balance": "leastconn"}, {"health_path": "/ok"}, {"cpus": 0.25},
               {"memory_mb": 128}, {"strip_path": True}]

    def patch(change):
        return app.test_client().patch("/api/apps/web", headers=AUTH, json=change).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(patch, changes)) == [200] * 6
    stored = store.get_app("web")
    assert (stored.port, stored.balance, stored.health_path, stored.cpus, stored.memory_mb, stored.strip_path) == \
        (8080, "leastconn", "/ok", 0.25, 128, True)
    kinds = [e.kind for e in store.events(20)]
    assert kinds.count("app.updated") == 6 and kinds.count("app.deployed") == 1


def test_damaged_autoscale_records_are_skipped_and_reported(app, client, store):
    """An older or hand-written autoscale/<app> and autoscale-state/<app>: GET
    /api/apps answers (the apps without them), the autoscaler's pass goes on
    with the other apps, and each damaged record is one store.corrupt event."""
    from orchestrator.control.autoscaler import Autoscaler
    from orchestrator.core.autoscale import Sample
    from orchestrator.settings import Settings

    for name in ("web", "old"):
        assert client.post("/api/apps", headers=AUTH, json={
            "name": name, "command": ["sleep", "1d"], "pod": "medium", "port": 80}).status_code == 201
    assert client.put("/api/apps/web/autoscale", headers=AUTH, json={"min": 1, "max": 3, "rps": 10}).status_code == 200
    store.etcd.put_json("autoscale/old", {"min": 1, "max": 3, "target_rps": 10})          # an older shape
    store.etcd.put_json("autoscale-state/web", {"state": {}, "last": "garbage"})          # a damaged memory
    answer = client.get("/api/apps", headers=AUTH)
    assert answer.status_code == 200
    apps = {a["name"]: a for a in answer.get_json()}
    assert apps["old"]["autoscale"] is None and apps["web"]["autoscale"]["last"] is None

    class Sampler:
        def window(self, app, seconds, desired):
            return Sample(time=0.0, serving=1, starting=0, requests=500, rps=100.0, inflight=1.0, cpu=50.0,
                          p95_ms=10.0)

    Autoscaler(store, UseCases.over(store).apps, Sampler(), Settings().autoscale).decide_all()
    assert store.get_app("web") and len([n for n in store.list_nodes("medium") if n.app == "web"]) == 3
    corrupt = [e.subject for e in store.events(50) if e.kind == "store.corrupt"]
    assert sorted(set(corrupt)) == ["autoscale-state/web", "autoscale/old"] and len(corrupt) == 2
