"""``GET /metrics``: the manager's Prometheus metrics (docs/metrics.md).

Outside ``/api`` and open without the token, like HAProxy's and
node_exporter's exporters (docs/decisions.md says why): it serves the
registry of the running controller (``Controller.telemetry``). A manager
without a controller (``--no-controller``) still answers, with the few
series that need none (``simplecloud_build_info``,
``simplecloud_controller_running 0``), so a scrape never fails because the
loops are off.
"""
from __future__ import annotations

from flask import Blueprint, current_app

from orchestrator.api import controller
from orchestrator.observe.telemetry import CONTENT_TYPE, Telemetry

bp = Blueprint("prometheus", __name__)


@bp.get("/metrics")
def metrics():
    running = controller()
    if running is not None:
        telemetry = running.telemetry
    else:   # one per app, made on first use: no process-wide registry
        telemetry = current_app.extensions.get("simplecloud.telemetry")
        if telemetry is None:
            telemetry = current_app.extensions["simplecloud.telemetry"] = Telemetry()
    return current_app.response_class(telemetry.render(), content_type=CONTENT_TYPE)
