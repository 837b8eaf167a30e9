"""The REST API: a Flask application factory and one blueprint per resource.

The views are deliberately thin. Each one reads and type-checks its input
(``errors.json_body``, ``core.validate`` against ``core.schema``), calls one ``Service`` method, and
turns the result into JSON with :func:`to_json`. All decisions (is the name
valid, is the pod full, ...) live in ``service.py``; the API never talks to
hosts or HAProxy, it only writes desired state through the service.

    app = create_app(service, token=token, controller=controller)   # server.py builds them
"""
from __future__ import annotations

import dataclasses
import enum
import logging

from flask import Flask, current_app, request

log = logging.getLogger("orchestrator.api")

MAX_BODY_BYTES = 1024 * 1024


def create_app(service, *, token: str, controller=None) -> Flask:
    """Build the Flask app over the use cases ``service``, requiring ``token``
    on every /api call but the open ones (api/auth.py). ``controller``: the
    running ``control.controller.Controller`` whose figures the dashboard and
    ``/metrics`` show (None: a manager without one, e.g. --no-controller).
    Everything is built by the composition root (server.py) and handed in.
    """
    from orchestrator.api import apps, auth, cluster, dashboard, errors, nodes, pods, prometheus

    app = Flask(__name__, static_folder=None)   # the dashboard blueprint serves /static
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES   # larger bodies get a JSON 413
    app.extensions["simplecloud.service"] = service
    app.extensions["simplecloud.controller"] = controller

    errors.register_error_handlers(app)
    auth.init_app(app, token)
    for module in (cluster, pods, nodes, apps):
        app.register_blueprint(module.bp, url_prefix="/api")
    app.register_blueprint(prometheus.bp)          # /metrics: outside /api, no token
    app.register_blueprint(dashboard.bp)        # / (the page), /static, /api/dashboard

    @app.after_request
    def _log_change(response):
        """One log line per state-changing request: the manager's audit trail."""
        if request.method not in auth.SAFE_METHODS:
            log.info("%s %s -> %d (from %s)", request.method, request.path, response.status_code,
                     request.remote_addr)
        return response

    return app


def service():
    """The ``Service`` the running app was built with (for views)."""
    return current_app.extensions["simplecloud.service"]


def controller():
    """The running ``Controller`` (for figures), or None."""
    return current_app.extensions["simplecloud.controller"]


def to_json(value):
    """Turn service results (dataclasses, enums, lists of them) into JSON data.

    Model objects may offer ``to_dict()``; otherwise dataclasses are
    converted field by field.
    """
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return to_json(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    return value
