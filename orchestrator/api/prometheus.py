"""``GET /metrics``: the manager's Prometheus metrics (docs/metrics.md).

Outside ``/api`` and open without the token, like HAProxy's and
node_exporter's exporters (docs/decisions.md says why): it serves the
registry create_app was given (the running controller's ``telemetry``). A
manager without a controller (``--no-controller``) still answers, with the
few series that need none (``simplecloud_build_info``,
``simplecloud_controller_running 0``), so a scrape never fails because the
loops are off.
"""
from __future__ import annotations

from flask import Blueprint, current_app

from orchestrator.observe.telemetry import CONTENT_TYPE

bp = Blueprint("prometheus", __name__)


@bp.get("/metrics")
def metrics():
    telemetry = current_app.extensions["simplecloud.telemetry"]
    return current_app.response_class(telemetry.render(), content_type=CONTENT_TYPE)
