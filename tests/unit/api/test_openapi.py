"""The served OpenAPI document covers exactly the routes and the auth rule, and its references resolve."""
from __future__ import annotations

import re


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
