"""Nodes: worker containers, one per record, inside a pod (each route's
``@doc`` is its part of the OpenAPI document, api/openapi.py)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from orchestrator.api import responses, to_json, usecases
from orchestrator.api.openapi import Query, doc
from orchestrator.api.params import body, int_arg, name
from orchestrator.core import schema

bp = Blueprint("nodes", __name__)

DEFAULT_TAIL = 100
MAX_TAIL = 10_000


@bp.get("/nodes")
@doc(summary="List nodes, of every pod or of one", answer="Nodes.", returns=list[responses.Node],
     query=(Query("pod", {"$ref": "#/components/schemas/Name"}),), errors=(400, 401, 404, 503))
def list_nodes():
    pod = request.args.get("pod")
    return jsonify(to_json(usecases().nodes.list(pod=name(pod, "pod", "pod name") if pod is not None else None)))


@bp.post("/nodes")
@doc(summary="Register a NEW node in a pod (its container is created, not started)", answer="The new node.",
     returns=responses.Node, status=201, body=schema.NodeSpec, errors=(400, 401, 404, 409, 413, 503))
def register_node():
    return jsonify(to_json(usecases().nodes.register(body(schema.NodeSpec, "the node")))), 201


@bp.delete("/pods/<pod>/nodes/<node>")
@doc(summary="Remove a node (its container and HAProxy server go away)", answer="The removed node.",
     returns=responses.Node, errors=(400, 401, 404, 409, 503))
def remove_node(pod: str, node: str):
    node = name(node, "name", "node name")
    return jsonify(to_json(usecases().nodes.remove(name(pod, "pod", "pod name"), node)))


@bp.get("/pods/<pod>/nodes/<node>/logs")
@doc(summary="The last lines of the node's container log", answer="The log text.", returns=responses.Logs,
     query=(Query("tail", {"type": "integer", "minimum": 1, "maximum": MAX_TAIL, "default": DEFAULT_TAIL}),),
     errors=(400, 401, 404, 409, 503))
def logs(pod: str, node: str):
    node = name(node, "node", "node name")
    pod = name(pod, "pod", "pod name")
    tail = int_arg("tail", DEFAULT_TAIL, minimum=1, maximum=MAX_TAIL)
    return jsonify(to_json(usecases().nodes.logs(pod, node, tail=tail)))


@bp.post("/pods/<pod>/nodes/<node>/crash")
@doc(summary="Kill the node's running container (SIGKILL), for demos and fault tests",
     description="Desired state is not changed; the controller replaces the worker as after a real crash.",
     answer="The container that was killed.", returns=responses.Crashed, errors=(400, 401, 404, 409, 503))
def crash(pod: str, node: str):
    node = name(node, "node", "node name")
    return jsonify(to_json(usecases().nodes.crash(name(pod, "pod", "pod name"), node)))
