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
from orchestrator.api.errors import field, int_arg, json_body

bp = Blueprint("nodes", __name__)

NODE_FIELDS = {"name", "pod", "app"}
DEFAULT_TAIL = 100


@bp.get("/nodes")
def list_nodes():
    return jsonify(to_json(service().list_nodes(pod=request.args.get("pod") or None)))


@bp.post("/nodes")
def register_node():
    body = json_body(NODE_FIELDS)
    node = service().register_node(
        name=field(body, "name", str, required=True),
        pod=field(body, "pod", str, required=True),
        app=field(body, "app", str),
    )
    return jsonify(to_json(node)), 201


@bp.delete("/pods/<pod>/nodes/<node>")
def remove_node(pod: str, node: str):
    return jsonify(to_json(service().remove_node(node, pod)))


@bp.get("/pods/<pod>/nodes/<node>/logs")
def logs(pod: str, node: str):
    tail = int_arg("tail", DEFAULT_TAIL, minimum=1)
    return jsonify(to_json(service().logs(node, pod=pod, tail=tail)))


@bp.post("/pods/<pod>/nodes/<node>/crash")
def crash(pod: str, node: str):
    return jsonify(to_json(service().crash_node(node, pod)))
