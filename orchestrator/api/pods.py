"""Pods: pools of node slots on one pod host, and the seed verbs on them.

    GET    /api/pods                  list
    POST   /api/pods                  register {name, host, max_nodes?, cpus?, memory_mb?, app?}
    DELETE /api/pods/<pod>            remove (must be empty)
    POST   /api/pods/<pod>/launch     first NEW node -> ONLINE
    POST   /api/pods/<pod>/pause      ONLINE nodes -> PAUSED (drained in HAProxy)
    POST   /api/pods/<pod>/resume     PAUSED nodes -> ONLINE
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from orchestrator.api import service, to_json
from orchestrator.api.errors import json_body
from orchestrator.core import schema, validate

bp = Blueprint("pods", __name__)


@bp.get("/pods")
def list_pods():
    return jsonify(to_json(service().list_pods()))


@bp.post("/pods")
def register_pod():
    body = validate.parse(schema.PodSpec, json_body(), "the pod")
    pod = service().register_pod(**body.model_dump())
    return jsonify(to_json(pod)), 201


@bp.delete("/pods/<pod>")
def remove_pod(pod: str):
    return jsonify(to_json(service().remove_pod(pod)))


@bp.post("/pods/<pod>/launch")
def launch(pod: str):
    return jsonify(to_json(service().launch(pod)))


@bp.post("/pods/<pod>/pause")
def pause(pod: str):
    return jsonify(to_json(service().pause(pod)))


@bp.post("/pods/<pod>/resume")
def resume(pod: str):
    return jsonify(to_json(service().resume(pod)))
