"""Hosts: the machines workers run on, and the pods' pools of them (each
route's ``@doc`` is its part of the OpenAPI document, api/openapi.py)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from orchestrator.api import controller, responses, to_json, usecases
from orchestrator.api.openapi import Query, doc
from orchestrator.api.params import body, name
from orchestrator.core import schema, validate

bp = Blueprint("hosts", __name__)
NAMED = (400, 401, 404, 409, 503)


def _host(host: str) -> str:
    return validate.hostname(host, "host")


@bp.get("/hosts")
@doc(summary="List the hosts: their pods, capacity, load, nodes, reachability and CPU use",
     answer="Every host.", returns=list[responses.Host])
def list_hosts():
    running = controller()
    cpu = running.sampler.host_cpu() if running is not None else None
    return jsonify(to_json(usecases().pools.list(cpu)))


@bp.post("/hosts/<host>/pod")
@doc(summary="Put a host into a pod (a spare, or one of other pods); a draining host of the pod takes nodes again",
     answer="The host.", returns=responses.Host, body=schema.HostPod, errors=(400, 401, 404, 409, 413, 503))
def add_to_pod(host: str):
    return jsonify(to_json(usecases().pools.add(_host(host), body(schema.HostPod, "the pod").pod)))


@bp.post("/hosts/<host>/drain")
@doc(summary="Drain a host: its nodes move to their pods' other hosts, each new one serving before the "
             "old one drains", answer="The host (draining).", returns=responses.Host, errors=NAMED)
def drain(host: str):
    return jsonify(to_json(usecases().pools.drain(_host(host))))


@bp.delete("/hosts/<host>/pod")
@doc(summary="Take a host out of its pod (back to the spares); 409 while nodes of the pod remain on it",
     answer="The host.", returns=responses.Host, errors=NAMED,
     query=(Query("pod", {"$ref": "#/components/schemas/Name"}),))
def remove_from_pod(host: str):
    pod = request.args.get("pod")
    return jsonify(to_json(usecases().pools.remove(_host(host), name(pod, "pod", "pod name") if pod else None)))
