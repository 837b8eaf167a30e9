"""Cluster-wide routes: health, the OpenAPI document, init, status, events."""
from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify

from orchestrator import __version__
from orchestrator.api import to_json, usecases
from orchestrator.api.openapi import document
from orchestrator.api.params import int_arg

bp = Blueprint("cluster", __name__)

DEFAULT_EVENTS = 50
MAX_EVENTS = 1000


@bp.get("/health")
def health():
    """Liveness: the API process answers. Cluster state is under /api/status."""
    return jsonify({"status": "ok", "version": __version__})


@bp.get("/openapi.json")
def openapi():
    """The API description; json.dumps keeps the YAML's key order for readers."""
    text = json.dumps(document(), indent=2)
    return current_app.response_class(text, mimetype="application/json")


@bp.post("/init")
def init():
    """Create the built-in pods (light, medium, heavy) and jobs; idempotent."""
    return jsonify(to_json(usecases().cluster.init()))


@bp.get("/status")
def status():
    return jsonify(to_json(usecases().cluster.status()))


@bp.get("/events")
def events():
    limit = int_arg("limit", DEFAULT_EVENTS, minimum=1, maximum=MAX_EVENTS)
    return jsonify(to_json(usecases().cluster.events(limit)))
