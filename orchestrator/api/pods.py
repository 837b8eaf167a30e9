"""Pods: pools of node slots on one pod host, and the seed verbs on them
(each route's ``@doc`` is its part of the OpenAPI document, api/openapi.py)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from orchestrator.api import responses, to_json, usecases
from orchestrator.api.openapi import doc
from orchestrator.api.params import body, name
from orchestrator.core import schema

bp = Blueprint("pods", __name__)
NAMED = (400, 401, 404, 409, 503)   # a name in the path: malformed, unknown, or in the way


def _pod(pod: str) -> str:
    return name(pod, "pod", "pod name")


@bp.get("/pods")
@doc(summary="List pods", answer="All pods.", returns=list[responses.Pod])
def list_pods():
    return jsonify(to_json(usecases().pods.list()))


@bp.post("/pods")
@doc(summary="Register a pod (a pool of node slots on one pod host)", answer="The new pod.",
     returns=responses.Pod, status=201, body=schema.PodSpec, errors=(400, 401, 409, 413, 503))
def register_pod():
    return jsonify(to_json(usecases().pods.register(body(schema.PodSpec, "the pod")))), 201


@bp.delete("/pods/<pod>")
@doc(summary="Remove an empty pod", answer="The removed pod.", returns=responses.Pod, errors=NAMED)
def remove_pod(pod: str):
    return jsonify(to_json(usecases().pods.remove(_pod(pod))))


@bp.post("/pods/<pod>/launch")
@doc(summary="Move the oldest NEW node of the pod to ONLINE", answer="The launched node.",
     returns=responses.Node, errors=NAMED)
def launch(pod: str):
    return jsonify(to_json(usecases().pods.launch(_pod(pod))))


@bp.post("/pods/<pod>/pause")
@doc(summary="Drain and pause every ONLINE node of the pod", answer="The paused nodes.",
     returns=list[responses.Node], errors=NAMED)
def pause(pod: str):
    return jsonify(to_json(usecases().pods.pause(_pod(pod))))


@bp.post("/pods/<pod>/resume")
@doc(summary="Bring every PAUSED node of the pod back ONLINE", answer="The resumed nodes.",
     returns=list[responses.Node], errors=NAMED)
def resume(pod: str):
    return jsonify(to_json(usecases().pods.resume(_pod(pod))))
