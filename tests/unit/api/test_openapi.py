"""The served OpenAPI document covers exactly the routes and the auth rule, and its references resolve."""
from __future__ import annotations

import re

from pydantic import TypeAdapter

from orchestrator.api import responses
from tests.unit.api import AUTH


def _flask_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def _documented_routes(doc) -> set[tuple[str, str]]:
    methods = {"get", "post", "put", "delete", "patch"}
    return {(path, m) for path, item in doc["paths"].items() for m in item if m in methods}


def test_openapi_documents_every_route_and_nothing_else(client, app):
    doc = client.get("/api/openapi.json").get_json()
    assert _flask_routes(app) == _documented_routes(doc)


OPEN = {("/api/health", "get"), ("/api/openapi.json", "get")}


def test_openapi_security_matches_the_auth_rule(client):
    """Only health and the document are documented as open; every other operation
    needs the token, documents 401, and really answers 401 without it."""
    doc = client.get("/api/openapi.json").get_json()
    assert doc["security"] == [{"bearer": []}]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            open_ = op.get("security") == []
            assert open_ == ((path, method) in OPEN), f"{method.upper()} {path}"
            if not open_:
                assert "401" in op["responses"], f"{method.upper()} {path} must document 401"
                url = path.replace("{pod}", "light").replace("{node}", "n1").replace("{app}", "light")
                assert client.open(url, method=method.upper()).status_code == 401, f"{method.upper()} {path}"


def test_openapi_refs_resolve(client):
    doc = client.get("/api/openapi.json").get_json()
    refs = re.findall(r'"\$ref": "#/([^"]+)"', str(doc).replace("'", '"'))
    assert refs
    for ref in refs:
        node = doc
        for part in ref.split("/"):
            node = node[part]
    assert {"Pod", "Node", "App", "Error"} <= set(doc["components"]["schemas"])


def test_the_answers_fit_the_models_the_document_is_generated_from(cluster):
    """The answer models (api/responses.py) describe what the use cases' views really give:
    every answer below parses as its model, strictly (JSON types exactly)."""
    doc = cluster.get("/api/openapi.json").get_json()
    calls = [
        ("post", "/api/apps", "/api/apps", 201, {"name": "web", "image": "nginx:1.25", "pod": "light", "port": 80,
                                                 "replicas": 2}),
        ("put", "/api/apps/{app}/autoscale", "/api/apps/web/autoscale", 200, {"min": 1, "max": 4, "rps": 20}),
        ("put", "/api/apps/{app}/scale", "/api/apps/web/scale", 200, {"replicas": 3}),
        ("get", "/api/apps/{app}", "/api/apps/web", 200, None),
        ("get", "/api/apps", "/api/apps", 200, None),
        ("post", "/api/nodes", "/api/nodes", 201, {"name": "n1", "pod": "light"}),
        ("get", "/api/nodes", "/api/nodes", 200, None),
        ("get", "/api/pods", "/api/pods", 200, None),
        ("get", "/api/status", "/api/status", 200, None),
        ("get", "/api/events", "/api/events", 200, None),
        ("get", "/api/dashboard", "/api/dashboard", 200, None),
        ("get", "/api/health", "/api/health", 200, None),
        ("post", "/api/init", "/api/init", 200, None),
        ("patch", "/api/apps/{app}", "/api/apps/web", 200, {"balance": "leastconn"}),
        ("delete", "/api/apps/{app}", "/api/apps/web", 200, None),
    ]
    for method, path, url, status, body in calls:
        r = cluster.open(url, method=method.upper(), json=body, headers=AUTH)
        assert r.status_code == status, (url, r.get_json())
        model = answer_model(cluster.application, path, method)
        TypeAdapter(model).validate_json(r.get_data(), strict=True)
        assert str(status) in doc["paths"][path][method]["responses"]
    refused = cluster.post("/api/apps", json={"name": "Bad"}, headers=AUTH)
    responses.Error.model_validate_json(refused.get_data(), strict=True)


def answer_model(app, path, method):
    """The model a route's ``@doc`` says it answers with."""
    rule = next(r for r in app.url_map.iter_rules()
                if re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", r.rule) == path and method.upper() in r.methods)
    return app.view_functions[rule.endpoint].__openapi__.returns
