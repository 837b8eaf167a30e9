"""Applications: what runs on nodes, with a replica count and a route.

    GET    /api/apps                list
    POST   /api/apps                deploy {name, image | command, pod, replicas, port, ...}
    GET    /api/apps/<app>          one app with its nodes
    PATCH  /api/apps/<app>          update {image | command, port, cpus, memory_mb, path, host,
                                    balance, health_path, strip_path} (rolling, or a reload)
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
    "strip_path": bool, "cpus": float, "memory_mb": int,
}
UPDATE_FIELD_TYPES = {k: v for k, v in APP_FIELD_TYPES.items() if k not in ("name", "pod", "replicas")}


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
    if body.get("command") is not None:
        spec["command"] = _command(body["command"])
    return jsonify(to_json(service().deploy_app(spec))), 201


def _command(command):
    if not isinstance(command, (list, str)) or (
            isinstance(command, list) and not all(isinstance(arg, str) for arg in command)):
        raise ValidationError("command", "field 'command' must be a list of strings such as "
                                         "[\"nc\", \"-lk\", \"-p\", \"9000\"] (or one string, split like a shell)")
    return command


@bp.patch("/apps/<app>")
def update(app: str):
    body = json_body(set(UPDATE_FIELD_TYPES) | {"command"})
    changes = {}
    for name, kind in UPDATE_FIELD_TYPES.items():
        if name in body:
            changes[name] = field(body, name, kind)
    if body.get("command") is not None:
        changes["command"] = _command(body["command"])
    return jsonify(to_json(service().update_app(app, changes)))


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
