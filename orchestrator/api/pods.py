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

from orchestrator.api import to_json, usecases
from orchestrator.api.params import body, name
from orchestrator.core import schema

bp = Blueprint("pods", __name__)


def _pod(pod: str) -> str:
    return name(pod, "pod", "pod name")


@bp.get("/pods")
def list_pods():
    return jsonify(to_json(usecases().pods.list()))


@bp.post("/pods")
def register_pod():
    return jsonify(to_json(usecases().pods.register(body(schema.PodSpec, "the pod")))), 201


@bp.delete("/pods/<pod>")
def remove_pod(pod: str):
    return jsonify(to_json(usecases().pods.remove(_pod(pod))))


@bp.post("/pods/<pod>/launch")
def launch(pod: str):
    return jsonify(to_json(usecases().pods.launch(_pod(pod))))


@bp.post("/pods/<pod>/pause")
def pause(pod: str):
    return jsonify(to_json(usecases().pods.pause(_pod(pod))))


@bp.post("/pods/<pod>/resume")
def resume(pod: str):
    return jsonify(to_json(usecases().pods.resume(_pod(pod))))
