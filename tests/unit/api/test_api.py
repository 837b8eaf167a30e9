"""The REST API through Flask's test client, over the real use cases and the in-memory FakeStore.

Every endpoint once on the happy path; then authentication, every kind of bad
input (each must be refused with a precise message AND leave the state
exactly as it was) and the JSON error handlers. The OpenAPI document and
the token file have files of their own.
"""
from __future__ import annotations

import copy
import logging

import pytest

from orchestrator.api import create_app
from orchestrator.api.errors import INTERNAL_ERROR
from orchestrator.core.errors import Unavailable
from orchestrator.core.model import Host
from tests.unit.api import AUTH, TOKEN


def state(store):
    """Everything the fake store holds, to compare before/after a refused request."""
    return copy.deepcopy(store.data), len(store.events(10_000))


# --- happy paths, one per endpoint ----------------------------------------------------

def test_health_and_openapi_are_open(client):
    assert client.get("/api/health").get_json()["status"] == "ok"
    doc = client.get("/api/openapi.json")
    assert doc.status_code == 200 and doc.mimetype == "application/json"
    assert doc.get_json()["openapi"].startswith("3.1")


def test_init_is_idempotent(client):
    first = client.post("/api/init", headers=AUTH).get_json()
    assert first["created"]["pods"] == ["light", "medium", "heavy"]
    second = client.post("/api/init", headers=AUTH).get_json()
    assert second["created"] == {"pods": [], "apps": []}


def test_pods_register_list_remove(cluster):
    r = cluster.post("/api/pods", headers=AUTH,
                     json={"name": "batch", "host": "pod-heavy", "max_nodes": 4, "cpus": 1, "memory_mb": 512})
    assert r.status_code == 201
    assert r.get_json() == {"name": "batch", "hosts": ["pod-heavy"], "max_nodes": 4, "cpus": 1.0,
                            "memory_mb": 512, "app": None, "lent": []}
    pods = {p["name"]: p for p in cluster.get("/api/pods", headers=AUTH).get_json()}
    assert set(pods) == {"light", "medium", "heavy", "batch"}
    assert pods["light"]["used"] == 0 and pods["light"]["free"] == 20 and pods["light"]["capacity"] == 20
    assert pods["batch"]["free"] == 4                    # its 4 per host; pod-heavy is shared with heavy
    r = cluster.post("/api/pods", headers=AUTH, json={"name": "m", "hosts": ["al.yk4j0j"], "max_nodes": 228})
    assert r.status_code == 400 and r.get_json() == {
        "error": "host 'al.yk4j0j' is not known; the known hosts are pod-heavy, pod-light, pod-medium "
                 "(see: cloud host ls)", "field": "hosts"}
    assert cluster.delete("/api/pods/batch", headers=AUTH).get_json()["name"] == "batch"
    assert "batch" not in {p["name"] for p in cluster.get("/api/pods", headers=AUTH).get_json()}


def test_seed_verbs_register_launch_pause_resume_rm(cluster):
    r = cluster.post("/api/nodes", headers=AUTH, json={"name": "n1", "pod": "light"})
    assert r.status_code == 201
    assert r.get_json()["status"] == "NEW" and r.get_json()["app"] == "light"
    launched = cluster.post("/api/pods/light/launch", headers=AUTH).get_json()
    assert (launched["name"], launched["status"]) == ("n1", "ONLINE")
    paused = cluster.post("/api/pods/light/pause", headers=AUTH).get_json()
    assert [(n["name"], n["status"]) for n in paused] == [("n1", "PAUSED")]
    resumed = cluster.post("/api/pods/light/resume", headers=AUTH).get_json()
    assert [(n["name"], n["status"]) for n in resumed] == [("n1", "ONLINE")]
    assert [n["name"] for n in cluster.get("/api/nodes?pod=light", headers=AUTH).get_json()] == ["n1"]
    assert cluster.get("/api/nodes?pod=medium", headers=AUTH).get_json() == []
    assert len(cluster.get("/api/nodes", headers=AUTH).get_json()) == 1
    logs = cluster.get("/api/pods/light/nodes/n1/logs?tail=2", headers=AUTH).get_json()
    assert logs["logs"] == "line 2\nline 3" and logs["container"] == "sc-light.n1.g1"
    crashed = cluster.post("/api/pods/light/nodes/n1/crash", headers=AUTH).get_json()
    assert crashed == {"pod": "light", "node": "n1", "container": "sc-light.n1.g1", "killed": True}
    assert cluster.post("/api/pods/light/nodes/n1/crash").status_code == 401
    assert cluster.delete("/api/pods/light/nodes/n1", headers=AUTH).status_code == 200
    assert cluster.get("/api/nodes", headers=AUTH).get_json() == []


def test_app_update_patch(cluster):
    r = cluster.patch("/api/apps/light", headers=AUTH, json={"balance": "leastconn", "cpus": 0.2})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["changed"] == ["cpus", "balance"] and r.get_json()["cpus"] == 0.2
    assert cluster.patch("/api/apps/light", json={"port": 1}).status_code == 401
    bad = cluster.patch("/api/apps/light", headers=AUTH, json={"replicas": 2})
    assert bad.status_code == 400 and bad.get_json()["field"] == "replicas"
    assert cluster.patch("/api/apps/light", headers=AUTH, json={"port": "x"}).status_code == 400
    assert cluster.patch("/api/apps/light", headers=AUTH, json={}).status_code == 400
    assert cluster.patch("/api/apps/nope", headers=AUTH, json={"port": 80}).status_code == 404


def test_apps_deploy_get_scale_stop(cluster):
    r = cluster.post("/api/apps", headers=AUTH, json={
        "name": "web", "image": "nginx:1.25", "pod": "medium", "replicas": 2, "port": 80,
        "balance": "leastconn", "health_path": "/"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["replicas"], body["path"], body["balance"]) == (2, "/web", "leastconn")
    assert cluster.get("/api/apps/web", headers=AUTH).get_json()["replicas"] == 2
    assert {a["name"] for a in cluster.get("/api/apps", headers=AUTH).get_json()} == {"light", "medium", "heavy", "web"}
    assert cluster.put("/api/apps/web/scale", headers=AUTH, json={"replicas": 5}).get_json()["replicas"] == 5
    assert cluster.put("/api/apps/web/scale", headers=AUTH, json={"replicas": 1}).get_json()["replicas"] == 1
    stopped = cluster.delete("/api/apps/web", headers=AUTH).get_json()
    assert stopped["replicas"] == 0 and len(stopped["removed"]) == 1
    assert cluster.get("/api/apps/web", headers=AUTH).status_code == 404


def test_deploy_a_command_as_an_argument_list(cluster):
    r = cluster.post("/api/apps", headers=AUTH, json={"name": "echo", "command": ["nc", "-lk", "-p", "9000"],
                                                       "pod": "light", "replicas": 1, "port": 9000})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["command"][0] == "nc" and r.get_json()["image"] is None
    # one string is not split like a shell would: the CLI splits, the API takes the list
    r = cluster.post("/api/apps", headers=AUTH, json={"name": "echo2", "command": "nc -lk -p 9001",
                                                       "pod": "light", "port": 9000})
    assert r.status_code == 400 and "field 'command' must be a list" in r.get_json()["error"]


def test_status_and_events(cluster):
    cluster.post("/api/nodes", headers=AUTH, json={"name": "n1", "pod": "light"})
    status = cluster.get("/api/status", headers=AUTH).get_json()
    assert set(status) >= {"pods", "apps", "nodes", "events"}
    assert status["nodes"] == {"NEW": 1}
    events = cluster.get("/api/events?limit=1", headers=AUTH).get_json()
    assert len(events) == 1 and events[0]["kind"] == "node.registered"
    assert len(cluster.get("/api/events", headers=AUTH).get_json()) == 2


def test_autoscale_put_and_delete(cluster):
    answer = cluster.put("/api/apps/light/autoscale", json={"min": 1, "max": 3, "cpu": 60}, headers=AUTH)
    assert answer.status_code == 200 and answer.get_json()["autoscale"]["summary"] == "1..3, cpu 60/node"
    assert answer.get_json()["autoscale"]["policy"] == {"min": 1, "max": 3, "cpu": 60.0, "rules": [],
                                                        "scale_down_window_s": 300.0}
    assert cluster.put("/api/apps/light/autoscale", json={"min": 1, "max": 3, "cpu": 6}).status_code == 401
    off = cluster.delete("/api/apps/light/autoscale", headers=AUTH)
    assert off.status_code == 200 and off.get_json()["autoscale"] is None


# --- authentication -------------------------------------------------------------------

STATE_CHANGING = [
    ("POST", "/api/init", None),
    ("POST", "/api/pods", {"name": "x", "host": "pod-x"}),
    ("DELETE", "/api/pods/light", None),
    ("POST", "/api/pods/light/launch", None),
    ("POST", "/api/pods/light/pause", None),
    ("POST", "/api/pods/light/resume", None),
    ("POST", "/api/nodes", {"name": "n9", "pod": "light"}),
    ("DELETE", "/api/pods/light/nodes/n1", None),
    ("POST", "/api/apps", {"name": "w", "image": "nginx:1.25", "pod": "light", "port": 80}),
    ("PUT", "/api/apps/light/scale", {"replicas": 3}),
    ("DELETE", "/api/apps/light", None),
]


@pytest.mark.parametrize("method, path, body", STATE_CHANGING)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": "Bearer"}, {"Authorization": f"Bearer {TOKEN}x"}])
def test_state_changes_need_the_token(cluster, store, method, path, body, headers):
    cluster.post("/api/nodes", headers=AUTH, json={"name": "n1", "pod": "light"})
    before = state(store)
    r = cluster.open(path, method=method, json=body, headers=headers)
    assert r.status_code == 401
    assert r.get_json()["error"].startswith("authentication required")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert state(store) == before


def test_the_bearer_scheme_is_case_insensitive(client):
    assert client.post("/api/init", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


# --- bad input: precise 4xx, and the state stays exactly as it was -----------------------

BAD_REQUESTS = [
    # unknown pod / node / app
    ("POST", "/api/nodes", {"name": "n2", "pod": "nope"}, 404, "pod 'nope' does not exist"),
    ("POST", "/api/pods/nope/launch", None, 404, "pod 'nope' does not exist"),
    ("DELETE", "/api/pods/nope", None, 404, "pod 'nope' does not exist"),
    ("DELETE", "/api/pods/light/nodes/ghost", None, 404, "ghost"),
    ("PUT", "/api/apps/nope/scale", {"replicas": 1}, 404, "app 'nope' does not exist"),
    ("DELETE", "/api/apps/nope", None, 404, "app 'nope' does not exist"),
    ("POST", "/api/apps", {"name": "w", "image": "nginx:1.25", "pod": "nope", "port": 80}, 404, "pod 'nope'"),
    # names that are not DNS labels
    ("POST", "/api/pods", {"name": "Bad_Name", "host": "pod-x"}, 400, "not a valid name"),
    ("POST", "/api/nodes", {"name": "UPPER", "pod": "light"}, 400, "not a valid name"),
    ("POST", "/api/nodes", {"name": "-n", "pod": "light"}, 400, "not a valid name"),
    ("POST", "/api/apps", {"name": "a.b", "image": "nginx:1.25", "pod": "light", "port": 80}, 400,
     "not a valid name"),
    # replicas out of range
    ("PUT", "/api/apps/light/scale", {"replicas": -1}, 400, "replicas must be a whole number from 0 to 1000, got -1"),
    ("PUT", "/api/apps/light/scale", {"replicas": 21}, 409, "pod 'light' has room for"),
    ("POST", "/api/apps", {"name": "w", "image": "nginx:1.25", "pod": "heavy", "port": 80, "replicas": 11},
     409, "pod 'heavy' has room for 10"),
    # balance and image
    ("POST", "/api/apps", {"name": "w", "image": "nginx:1.25", "pod": "light", "port": 80, "balance": "fastest"},
     400, "balance 'fastest' is not supported; use one of roundrobin"),
    ("POST", "/api/apps", {"name": "w", "image": "nosuch/image:1", "pod": "light", "port": 80}, 409,
     "image 'nosuch/image:1' does not exist on host pod-light"),
    ("POST", "/api/apps", {"name": "w", "pod": "light", "port": 80}, 400, "exactly one of image"),
    # wrong JSON types / unknown or missing fields
    ("PUT", "/api/apps/light/scale", {"replicas": "3"}, 400, "field 'replicas' must be an integer"),
    ("PUT", "/api/apps/light/scale", {"replicas": True}, 400, "field 'replicas' must be an integer"),
    ("PUT", "/api/apps/light/scale", {}, 400, "field 'replicas' is required"),
    ("PUT", "/api/apps/light/scale", {"replica": 3}, 400, "unknown field 'replica'"),
    ("POST", "/api/pods", {"name": "x", "host": "pod-x", "cpus": "lots"}, 400, "field 'cpus' must be a number"),
    ("POST", "/api/pods", {"name": "x"}, 400, "give exactly one of hosts"),
    ("POST", "/api/pods", {"name": "x", "hosts": "pod-light"}, 400, "field 'hosts' must be a list"),
    ("POST", "/api/hosts/pod-light/pod", {"pod": "No"}, 400, "pod name 'No' is not a valid name"),
    ("POST", "/api/hosts/pod_light/pod", {"pod": "light"}, 400, "not a valid host name"),
    ("POST", "/api/nodes", {"name": 7, "pod": "light"}, 400, "field 'name' must be a string"),
    ("POST", "/api/apps", {"name": "w", "command": [1, 2], "pod": "light", "port": 80}, 400,
     "command [1, 2] must be a non-empty list of at most 64 arguments (strings of at most 1024 characters "
     "without NUL bytes, 8192 bytes in all"),
    ("POST", "/api/apps", {"name": "w", "command": ["sh"] * 65, "pod": "light", "port": 80}, 400,
     "must be a non-empty list of at most 64 arguments"),
    ("POST", "/api/apps", {"name": "w", "command": ["sh", "x" * 1025], "pod": "light", "port": 80}, 400,
     "must be a non-empty list of at most 64 arguments"),
    ("POST", "/api/apps", {"name": "w", "command": ["x" * 1000] * 9, "pod": "light", "port": 80}, 400,
     "the command's arguments together must be at most 8192 bytes"),
    ("POST", "/api/apps", {"name": "w", "image": "nginx:1.25", "pod": "light", "port": "80"}, 400,
     "field 'port' must be an integer"),
    # exact matching: a trailing newline or a non-ASCII letter never gets through (issue 7)
    ("POST", "/api/apps", {"name": "web\n", "image": "nginx:1.25", "pod": "light", "port": 80}, 400,
     "app name 'web\\n' is not a valid name"),
    ("POST", "/api/apps", {"name": "web", "image": "nginx:1.25", "pod": "light", "port": 80, "path": "/webx\n"},
     400, "path '/webx\\n' is not a clean path prefix"),
    ("POST", "/api/apps", {"name": "web", "image": "nginx:tä", "pod": "light", "port": 80}, 400,
     "image 'nginx:tä' is not a valid image reference"),
    ("POST", "/api/pods", {"name": "p", "host": "pod-x", "cpus": 1e-10}, 400,
     "cpus must be a number of CPUs from 0.01 to 64, got 1e-10"),
    ("PATCH", "/api/apps/light", {"cpus": 0.001}, 400, "cpus must be a number of CPUs from 0.01"),
    ("PATCH", "/api/apps/light", {"security": "root"}, 400, "security 'root' is not a security profile"),
    ("POST", "/api/nodes", {"name": "n2", "pod": "light", "app": "heavy"}, 409, "app 'heavy' runs in pod 'heavy'"),
    ("GET", "/api/events?limit=1001", None, 400, "at least 1 and at most 1000"),
    ("GET", "/api/nodes?pod=", None, 400, "pod name is required"),
    ("GET", "/api/pods/light/nodes/n1/logs?tail=%D9%A3", None, 400, "must be an integer"),
    ("GET", "/api/events?limit=--5", None, 400, "query parameter 'limit' must be an integer, not '--5'"),
    ("GET", "/api/pods/light/nodes/n1/logs?tail=--1", None, 400, "must be an integer, not '--1'"),
    ("GET", "/api/events?limit=+5", None, 400, "must be an integer"),
    ("GET", "/api/events?limit=-", None, 400, "must be an integer"),
    # names in the path are checked at the edge, before any use case runs
    ("POST", "/api/pods/Bad_Name/launch", None, 400, "pod name 'Bad_Name' is not a valid name"),
    ("DELETE", "/api/pods/light/nodes/a_b", None, 400, "node name 'a_b' is not a valid name"),
    ("PUT", "/api/apps/-web/scale", {"replicas": 1}, 400, "app name '-web' is not a valid name"),
    # autoscale policies
    ("PUT", "/api/apps/light/autoscale", {"min": 1, "max": 5}, 400, "at least one target"),
    ("PUT", "/api/apps/light/autoscale", {"min": 1, "max": 5, "rps": 0}, 400, "rps"),
    ("PUT", "/api/apps/light/autoscale", {"min": 1, "max": 5, "cpu": 50, "idle_to_zero_s": 60}, 400,
     "needs min 0"),
    ("PUT", "/api/apps/light/autoscale", {"min": 1, "max": 5, "rps": 5, "burst": 1}, 400, "burst"),
    ("PUT", "/api/apps/light/autoscale", {"min": 3, "max": 2, "rps": 5}, 409, "min 3 is more than max 2"),
    ("PUT", "/api/apps/nope/autoscale", {"min": 1, "max": 3, "cpu": 6}, 404, "app 'nope' does not exist"),
    ("DELETE", "/api/apps/nope/autoscale", None, 404, "app 'nope' does not exist"),
]


@pytest.mark.parametrize("method, path, body, status, message", BAD_REQUESTS)
def test_bad_input_is_refused_and_changes_nothing(cluster, store, method, path, body, status, message):
    before = state(store)
    r = cluster.open(path, method=method, json=body, headers=AUTH)
    assert r.status_code == status, r.get_json()
    assert message in r.get_json()["error"]
    assert state(store) == before


def test_the_field_is_named_in_validation_errors(cluster):
    r = cluster.put("/api/apps/light/scale", headers=AUTH, json={"replicas": "3"})
    assert r.get_json()["field"] == "replicas"
    r = cluster.post("/api/apps", headers=AUTH, json={"name": "w", "image": "nginx:1.25", "pod": "light",
                                                       "port": 80, "balance": "fastest"})
    assert r.get_json()["field"] == "balance"


def test_a_21st_light_node_is_refused(cluster, store):
    for i in range(20):
        assert cluster.post("/api/nodes", headers=AUTH, json={"name": f"n{i}", "pod": "light"}).status_code == 201
    before = state(store)
    r = cluster.post("/api/nodes", headers=AUTH, json={"name": "n20", "pod": "light"})
    assert r.status_code == 409
    assert r.get_json()["error"].startswith("pod 'light' is full: 20 nodes on pod-light (20/20 of this pod")
    assert state(store) == before


@pytest.mark.parametrize("data, content_type, message", [
    ("{not json", "application/json", "not valid JSON"),
    ("{\"name\": \"n1\",}", "application/json", "not valid JSON"),
    ("", "application/json", "body is empty"),
    ("[1, 2]", "application/json", "must be a JSON object, not a list"),
    ("\"n1\"", "application/json", "must be a JSON object, not a string"),
    ("null", "application/json", "must be a JSON object, not null"),
    ("[" * 100_000 + "]" * 100_000, "application/json", "not valid JSON (or is nested too deeply)"),
    ('{"name": ' + "[" * 50 + "]" * 50 + "}", "application/json", "nested more than 32 levels"),
    ("name=n1&pod=light", "application/x-www-form-urlencoded", "not valid JSON"),
])
def test_malformed_bodies_are_400(cluster, store, data, content_type, message):
    before = state(store)
    r = cluster.post("/api/nodes", headers=AUTH, data=data, content_type=content_type)
    assert r.status_code == 400 and message in r.get_json()["error"]
    assert state(store) == before


def test_bad_query_parameters(cluster):
    r = cluster.get("/api/events?limit=lots", headers=AUTH)
    assert r.status_code == 400 and r.get_json() == {
        "error": "query parameter 'limit' must be an integer, not 'lots'", "field": "limit"}
    assert cluster.get("/api/pods/light/nodes/n1/logs?tail=0", headers=AUTH).status_code == 400
    assert cluster.get("/api/nodes?pod=nope", headers=AUTH).status_code == 404


# --- error handlers ------------------------------------------------------------------------

def test_unknown_route_and_wrong_method_are_json(client):
    r = client.get("/api/nope", headers=AUTH)
    assert r.status_code == 404 and "no such API route: GET /api/nope" in r.get_json()["error"]
    r = client.post("/api/nope", headers=AUTH)
    assert r.status_code == 404  # a typo is reported as such, not as an auth problem
    r = client.patch("/api/pods", headers=AUTH)
    assert r.status_code == 405
    assert r.get_json()["error"] == "method PATCH is not allowed on /api/pods; allowed: GET, POST"
    assert "POST" in r.headers["Allow"]


def test_oversized_bodies_are_refused_as_json(cluster, store):
    before = state(store)
    r = cluster.post("/api/nodes", headers=AUTH, data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                     content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"].startswith("the request body is larger than 1024 KiB")
    assert state(store) == before


def test_state_changes_are_logged(cluster, caplog):
    with caplog.at_level(logging.INFO, logger="orchestrator.api"):
        cluster.post("/api/nodes", headers=AUTH, json={"name": "n1", "pod": "light"})
        cluster.get("/api/nodes", headers=AUTH)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["POST /api/nodes -> 201"]


class Exploding:
    """Use cases whose every method fails the way a bug or an outage would."""

    def __init__(self, exc):
        self.exc = exc

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        raise self.exc


def test_unexpected_errors_are_500_without_traceback(tmp_path, caplog):
    app = create_app(Exploding(KeyError("secret detail")), token=TOKEN)
    with caplog.at_level(logging.ERROR, logger="orchestrator.api"):
        r = app.test_client().get("/api/pods", headers=AUTH)
    assert r.status_code == 500
    assert r.get_json() == {"error": INTERNAL_ERROR}
    assert "secret detail" not in r.get_data(as_text=True)
    assert "Traceback" in caplog.text and "secret detail" in caplog.text


def test_an_unreachable_etcd_is_503(tmp_path):
    app = create_app(Exploding(Unavailable("etcd is not reachable")), token=TOKEN)
    r = app.test_client().get("/api/status", headers=AUTH)
    assert r.status_code == 503 and r.get_json() == {"error": "etcd is not reachable"}


# --- the OpenAPI document covers exactly the routes --------------------------------------------


# --- the token file ------------------------------------------------------------------------------




def test_hosts_list_add_drain_remove(cluster, store):
    store.register_hosts([Host("spare-1", 4, 1.0, 512, "192.168.56.15", "10.42.5.0/24")])
    hosts = {h["name"]: h for h in cluster.get("/api/hosts", headers=AUTH).get_json()}
    assert set(hosts) == {"pod-light", "pod-medium", "pod-heavy", "spare-1"}
    assert hosts["spare-1"]["spare"] and hosts["spare-1"]["capacity"] == {"nodes": 4, "cpus": 1.0, "memory_mb": 512}
    assert hosts["pod-light"]["pods"] == ["light"] and hosts["pod-light"]["cpu_used"] is None   # no sampler here
    r = cluster.post("/api/hosts/spare-1/pod", headers=AUTH, json={"pod": "light"})
    assert r.status_code == 200 and r.get_json()["pods"] == ["light"]
    assert cluster.post("/api/hosts/ghost/pod", headers=AUTH, json={"pod": "light"}).status_code == 404
    assert cluster.post("/api/hosts/spare-1/pod", headers=AUTH, json={"pod": "light"}).status_code == 409
    assert cluster.post("/api/nodes", headers=AUTH, json={"name": "n1", "pod": "light"}).status_code == 201
    drained = cluster.post("/api/hosts/pod-light/drain", headers=AUTH).get_json()
    assert drained["draining"] and drained["nodes"] == 1
    r = cluster.delete("/api/hosts/spare-1/pod", headers=AUTH)
    assert r.status_code == 200 and r.get_json()["spare"]
    assert cluster.delete("/api/hosts/spare-1/pod", headers=AUTH).status_code == 409
    assert cluster.delete("/api/hosts/pod-light/pod?pod=nope", headers=AUTH).status_code == 404
