"""Applications: what runs on nodes, with a replica count and a route.

    GET    /api/apps                list
    POST   /api/apps                deploy {name, image | command, pod, replicas, port, ...}
    GET    /api/apps/<app>          one app with its nodes
    PUT    /api/apps/<app>/scale    {replicas}
    DELETE /api/apps/<app>          stop: remove its nodes, its route and the app
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from orchestrator.api import service, to_json
from orchestrator.api.errors import field, json_body
from orchestrator.core.errors import ValidationError

bp = Blueprint("apps", __name__)

# Field -> JSON type the API accepts ("command" is checked apart: a list of
# strings, or one string the service splits like a shell would). The service validates the values
# (DNS-label names, ports, balance algorithms, capacity); here we only make
# sure every field has the right JSON type so the service gets sane input.
APP_FIELD_TYPES = {
    "name": str, "image": str, "pod": str, "replicas": int,
    "port": int, "path": str, "host": str, "balance": str, "health_path": str,
    "strip_path": bool,
}


@bp.get("/apps")
def list_apps():
    return jsonify(to_json(service().list_apps()))


@bp.post("/apps")
def deploy():
    body = json_body(set(APP_FIELD_TYPES) | {"command"})
    spec = {}
    for name, kind in APP_FIELD_TYPES.items():
        value = field(body, name, kind)
        if value is not None:
            spec[name] = value
    command = body.get("command")
    if command is not None:
        if not isinstance(command, (list, str)) or (
                isinstance(command, list) and not all(isinstance(arg, str) for arg in command)):
            raise ValidationError("command", "field 'command' must be a list of strings such as "
                                             "[\"nc\", \"-lk\", \"-p\", \"9000\"] (or one string, split like a shell)")
        spec["command"] = command
    return jsonify(to_json(service().deploy_app(spec))), 201


@bp.get("/apps/<app>")
def get_app(app: str):
    return jsonify(to_json(service().get_app(app)))


@bp.put("/apps/<app>/scale")
def scale(app: str):
    body = json_body({"replicas"})
    replicas = field(body, "replicas", int, required=True)
    return jsonify(to_json(service().scale_app(app, replicas)))


@bp.delete("/apps/<app>")
def stop(app: str):
    return jsonify(to_json(service().stop_app(app)))
