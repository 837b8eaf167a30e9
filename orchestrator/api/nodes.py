"""Nodes: worker containers, one per record, inside a pod.

    GET    /api/nodes?pod=                          list (all pods or one)
    POST   /api/nodes                               register {name, pod, app?} as NEW
    DELETE /api/pods/<pod>/nodes/<node>             remove
    GET    /api/pods/<pod>/nodes/<node>/logs?tail=  last lines of the container log
    POST   /api/pods/<pod>/nodes/<node>/crash       kill its container (fault tests, demos)
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from orchestrator.api import service, to_json
from orchestrator.api.errors import int_arg, json_body
from orchestrator.core import schema, validate

bp = Blueprint("nodes", __name__)

DEFAULT_TAIL = 100
MAX_TAIL = 10_000


@bp.get("/nodes")
def list_nodes():
    pod = request.args.get("pod")
    return jsonify(to_json(service().list_nodes(pod=validate.name(pod, "pod", "pod name")
                                                if pod is not None else None)))


@bp.post("/nodes")
def register_node():
    body = validate.parse(schema.NodeSpec, json_body(), "the node")
    node = service().register_node(name=body.name, pod=body.pod, app=body.app)
    return jsonify(to_json(node)), 201


@bp.delete("/pods/<pod>/nodes/<node>")
def remove_node(pod: str, node: str):
    return jsonify(to_json(service().remove_node(node, pod)))


@bp.get("/pods/<pod>/nodes/<node>/logs")
def logs(pod: str, node: str):
    tail = int_arg("tail", DEFAULT_TAIL, minimum=1, maximum=MAX_TAIL)
    return jsonify(to_json(service().logs(node, pod=pod, tail=tail)))


@bp.post("/pods/<pod>/nodes/<node>/crash")
def crash(pod: str, node: str):
    return jsonify(to_json(service().crash_node(node, pod)))
