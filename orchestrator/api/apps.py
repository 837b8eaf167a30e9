"""Applications: what runs on nodes, with a replica count and a route (each
route's ``@doc`` is its part of the OpenAPI document, api/openapi.py)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from orchestrator.api import responses, to_json, usecases
from orchestrator.api.openapi import doc
from orchestrator.api.params import body, name
from orchestrator.core import schema, validate

bp = Blueprint("apps", __name__)
CHANGES = (400, 401, 404, 409, 413, 503)   # a change with a body


def _app(app: str) -> str:
    return name(app, "name", "app name")


@bp.get("/apps")
@doc(summary="List apps with their replica counts", answer="Apps.", returns=list[responses.App])
def list_apps():
    return jsonify(to_json(usecases().apps.list()))


@bp.post("/apps")
@doc(summary="Deploy an app (creates the app and its replica nodes in one transaction)",
     answer="The deployed app.", returns=responses.App, status=201, body=schema.AppSpec, errors=CHANGES)
def deploy():
    return jsonify(to_json(usecases().apps.deploy(body(schema.AppSpec, "the app")))), 201


@bp.patch("/apps/<app>")
@doc(summary="Change an app in place", answer="The updated app.", returns=responses.App, body=schema.AppUpdate,
     errors=CHANGES, description=(
         "A new image, command, port, limits or security profile replace the app's workers one node at a "
         "time (the new worker passes its health check before the old one is drained); a new path, host, "
         "balance algorithm, health path or strip_path re-renders haproxy.cfg and reloads HAProxy "
         "hitlessly; a new warm adds or removes warm nodes (started, health-checked, taking no requests). "
         "`changed` lists the fields that changed (empty: nothing to do)."))
def update(app: str):
    app = _app(app)
    return jsonify(to_json(usecases().apps.update(app, body(schema.AppUpdate, "the update"))))


@bp.get("/apps/<app>")
@doc(summary="One app, with its nodes", answer="The app.", returns=responses.App, errors=(400, 401, 404, 503))
def get_app(app: str):
    return jsonify(to_json(usecases().apps.get(_app(app))))


@bp.put("/apps/<app>/scale")
@doc(summary="Set the replica count (adds or removes nodes in one transaction)", answer="The scaled app.",
     returns=responses.App, body=schema.Scale, errors=CHANGES)
def scale(app: str):
    replicas = body(schema.Scale, "the scale request").replicas
    return jsonify(to_json(usecases().apps.scale(_app(app), replicas)))


@bp.delete("/apps/<app>")
@doc(summary="Stop an app; its nodes, its HAProxy route and the app record go away", answer="The stopped app.",
     returns=responses.App, errors=(400, 401, 404, 409, 503))
def stop(app: str):
    return jsonify(to_json(usecases().apps.stop(_app(app))))


@bp.put("/apps/<app>/autoscale")
@doc(summary="Autoscale the app within [min, max] on per-node targets or rules (replaces any policy)",
     answer="The app with its policy (the autoscaler applies it within one decision interval).",
     returns=responses.App, body=schema.Autoscale, errors=CHANGES)
def autoscale(app: str):
    """Answers the app with its policy."""
    app = _app(app)
    policy = body(schema.Autoscale, "the autoscale policy")
    validate.policy_bounds(policy)
    usecases().autoscaling.set(app, policy)
    return jsonify(to_json(usecases().apps.get(app)))


@bp.delete("/apps/<app>/autoscale")
@doc(summary="Stop autoscaling the app (its replicas stay as they are)", answer="The app, without a policy.",
     returns=responses.App, errors=(400, 401, 404, 409, 503))
def autoscale_off(app: str):
    app = _app(app)
    usecases().autoscaling.remove(app)
    return jsonify(to_json(usecases().apps.get(app)))
