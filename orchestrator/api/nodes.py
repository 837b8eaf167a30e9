"""Nodes: worker containers, one per record, inside a pod.

    GET    /api/nodes?pod=                          list (all pods or one)
    POST   /api/nodes                               register {name, pod, app?} as NEW
    DELETE /api/pods/<pod>/nodes/<node>             remove
    GET    /api/pods/<pod>/nodes/<node>/logs?tail=  last lines of the container log
    POST   /api/pods/<pod>/nodes/<node>/crash       kill its container (fault tests, demos)
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from orchestrator.api import to_json, usecases
from orchestrator.api.params import body, int_arg, name
from orchestrator.core import schema

bp = Blueprint("nodes", __name__)

DEFAULT_TAIL = 100
MAX_TAIL = 10_000


@bp.get("/nodes")
def list_nodes():
    pod = request.args.get("pod")
    return jsonify(to_json(usecases().nodes.list(pod=name(pod, "pod", "pod name") if pod is not None else None)))


@bp.post("/nodes")
def register_node():
    return jsonify(to_json(usecases().nodes.register(body(schema.NodeSpec, "the node")))), 201


@bp.delete("/pods/<pod>/nodes/<node>")
def remove_node(pod: str, node: str):
    node = name(node, "name", "node name")
    return jsonify(to_json(usecases().nodes.remove(name(pod, "pod", "pod name"), node)))


@bp.get("/pods/<pod>/nodes/<node>/logs")
def logs(pod: str, node: str):
    node = name(node, "node", "node name")
    pod = name(pod, "pod", "pod name")
    tail = int_arg("tail", DEFAULT_TAIL, minimum=1, maximum=MAX_TAIL)
    return jsonify(to_json(usecases().nodes.logs(pod, node, tail=tail)))


@bp.post("/pods/<pod>/nodes/<node>/crash")
def crash(pod: str, node: str):
    node = name(node, "node", "node name")
    return jsonify(to_json(usecases().nodes.crash(name(pod, "pod", "pod name"), node)))
