"""Cluster-wide routes: health, the OpenAPI document, init, status, events."""
from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify

from orchestrator import __version__
from orchestrator.api import responses, to_json, usecases
from orchestrator.api.openapi import Query, doc, document
from orchestrator.api.params import int_arg

bp = Blueprint("cluster", __name__)

DEFAULT_EVENTS = 50
MAX_EVENTS = 1000


@bp.get("/health")
@doc(summary="Liveness of the API process", answer="The API answers.", returns=responses.Health, open=True,
     errors=())
def health():
    """Liveness: the API process answers. Cluster state is under /api/status."""
    return jsonify({"status": "ok", "version": __version__})


@bp.get("/openapi.json")
@doc(summary="This document, as JSON", answer="The OpenAPI document.", returns={"type": "object"}, open=True,
     errors=())
def openapi():
    """The API description (generated once per app); json.dumps keeps its key order for readers."""
    text = current_app.extensions.get("simplecloud.openapi")
    if text is None:
        text = current_app.extensions["simplecloud.openapi"] = json.dumps(document(current_app), indent=2)
    return current_app.response_class(text, mimetype="application/json")


@bp.post("/init")
@doc(summary="Create the built-in pods (light, medium, heavy) and their job apps",
     description="Idempotent; pods and apps that already exist are left alone.",
     answer="The built-in pods and apps, and which of them this call created.", returns=responses.Initialized)
def init():
    """Create the built-in pods (light, medium, heavy) and jobs; idempotent."""
    return jsonify(to_json(usecases().cluster.init()))


@bp.get("/status")
@doc(summary="Pods, apps, node counts per status, and recent events", answer="Cluster summary.",
     returns=responses.Status)
def status():
    return jsonify(to_json(usecases().cluster.status()))


@bp.get("/events")
@doc(summary="The most recent events, newest first", answer="Events.", returns=list[responses.Event],
     query=(Query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_EVENTS, "default": DEFAULT_EVENTS}),),
     errors=(400, 401, 503))
def events():
    limit = int_arg("limit", DEFAULT_EVENTS, minimum=1, maximum=MAX_EVENTS)
    return jsonify(to_json(usecases().cluster.events(limit)))
