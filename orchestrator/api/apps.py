"""Applications: what runs on nodes, with a replica count and a route.

    GET    /api/apps                list
    POST   /api/apps                deploy {name, image | command, pod, replicas, port, ...}
    GET    /api/apps/<app>          one app with its nodes
    PATCH  /api/apps/<app>          update {image | command, port, cpus, memory_mb, path, host,
                                    balance, health_path, strip_path, security} (rolling, or a reload)
    PUT    /api/apps/<app>/scale    {replicas} (an autoscaled app stays within [min, max])
    PUT    /api/apps/<app>/autoscale    {min, max, rps | inflight | cpu | p95_ms | rules, ...}
    DELETE /api/apps/<app>/autoscale    stop autoscaling (the replicas stay)
    DELETE /api/apps/<app>          stop: remove its nodes, its route and the app
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from orchestrator.api import service, to_json
from orchestrator.api.errors import json_body
from orchestrator.core import schema, validate

bp = Blueprint("apps", __name__)


@bp.get("/apps")
def list_apps():
    return jsonify(to_json(service().list_apps()))


@bp.post("/apps")
def deploy():
    """The body is checked against ``schema.AppSpec`` by the service."""
    return jsonify(to_json(service().deploy_app(json_body()))), 201


@bp.patch("/apps/<app>")
def update(app: str):
    """The body is checked against ``schema.AppUpdate`` by the service."""
    return jsonify(to_json(service().update_app(app, json_body())))


@bp.get("/apps/<app>")
def get_app(app: str):
    return jsonify(to_json(service().get_app(app)))


@bp.put("/apps/<app>/scale")
def scale(app: str):
    body = validate.parse(schema.Scale, json_body(), "the scale request")
    return jsonify(to_json(service().scale_app(app, body.replicas)))


@bp.delete("/apps/<app>")
def stop(app: str):
    return jsonify(to_json(service().stop_app(app)))


@bp.put("/apps/<app>/autoscale")
def autoscale(app: str):
    """The body is checked against ``schema.Autoscale``; answers the app with its policy."""
    service().autoscaling.set_policy(app, json_body())
    return jsonify(to_json(service().get_app(app)))


@bp.delete("/apps/<app>/autoscale")
def autoscale_off(app: str):
    service().autoscaling.remove_policy(app)
    return jsonify(to_json(service().get_app(app)))
