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

from orchestrator.api import to_json, usecases
from orchestrator.api.params import body, name
from orchestrator.core import schema, validate

bp = Blueprint("apps", __name__)


def _app(app: str) -> str:
    return name(app, "name", "app name")


@bp.get("/apps")
def list_apps():
    return jsonify(to_json(usecases().apps.list()))


@bp.post("/apps")
def deploy():
    return jsonify(to_json(usecases().apps.deploy(body(schema.AppSpec, "the app")))), 201


@bp.patch("/apps/<app>")
def update(app: str):
    app = _app(app)
    return jsonify(to_json(usecases().apps.update(app, body(schema.AppUpdate, "the update"))))


@bp.get("/apps/<app>")
def get_app(app: str):
    return jsonify(to_json(usecases().apps.get(_app(app))))


@bp.put("/apps/<app>/scale")
def scale(app: str):
    replicas = body(schema.Scale, "the scale request").replicas
    return jsonify(to_json(usecases().apps.scale(_app(app), replicas)))


@bp.delete("/apps/<app>")
def stop(app: str):
    return jsonify(to_json(usecases().apps.stop(_app(app))))


@bp.put("/apps/<app>/autoscale")
def autoscale(app: str):
    """Answers the app with its policy."""
    app = _app(app)
    policy = body(schema.Autoscale, "the autoscale policy")
    validate.policy_bounds(policy)
    usecases().autoscaling.set(app, policy)
    return jsonify(to_json(usecases().apps.get(app)))


@bp.delete("/apps/<app>/autoscale")
def autoscale_off(app: str):
    app = _app(app)
    usecases().autoscaling.remove(app)
    return jsonify(to_json(usecases().apps.get(app)))
