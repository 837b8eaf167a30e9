"""The REST API: a Flask application factory and one blueprint per resource.

The views are deliberately thin. Each one reads and checks its input, once
(api/params.py: the body against ``core.schema``, the names in the path),
calls one use case (``orchestrator.usecases``), and turns the result into
JSON with :func:`to_json`. The decisions (is the pod full, is the route
taken, ...) are the use cases' and the core's; the API never talks to hosts
or HAProxy, it only writes desired state through the use cases.

    app = create_app(usecases, token=token, controller=controller)   # server.py builds them
"""
from __future__ import annotations

import dataclasses
import enum
import logging
from typing import Any, Protocol

from flask import Flask, current_app, g, request
from flask.json.provider import DefaultJSONProvider

from orchestrator.core import budget
from orchestrator.core.haproxy_stats import BackendStats
from orchestrator.observe.telemetry import Telemetry
from orchestrator.usecases import UseCases

log = logging.getLogger("orchestrator.api")

MAX_BODY_BYTES = 1024 * 1024
ETCD_BUDGET = 2.0
"""Seconds a request may wait on etcd in all (core/budget.py): with etcd down,
it answers 503 within about that, whatever the number of calls it makes."""


class FigureSource(Protocol):
    """The sampler's answers the dashboard shows (control/sampler.py)."""

    def figures(self) -> dict[str, dict[str, Any]]: ...
    def series(self, seconds: float, step: float) -> dict[str, list[dict[str, Any]]]: ...
    def host_cpu(self) -> dict[str, float]: ...
    def local_backends(self) -> dict[str, BackendStats]: ...


class RunningController(Protocol):
    """What the web layer reads of the controller it is handed (control/controller.py;
    handed in, never imported: the API sits beside the loops, not above them)."""

    @property
    def telemetry(self) -> Telemetry: ...
    @property
    def sampler(self) -> FigureSource: ...


def create_app(cases: UseCases, *, token: str, controller: RunningController | None = None,
               telemetry: Telemetry | None = None, etcd_budget: float = ETCD_BUDGET) -> Flask:
    """Build the Flask app over the use cases ``cases``, requiring ``token``
    on every /api call but the open ones (api/auth.py). ``controller``: the
    running ``control.controller.Controller`` whose figures the dashboard and
    ``/metrics`` show (None: a manager without one, e.g. --no-controller);
    ``telemetry``: what ``/metrics`` serves then (default: the controller's,
    else a registry of its own); ``etcd_budget``: the seconds each request
    may wait on etcd (``api_etcd_deadline``). Everything is built by the
    composition root (server.py) and handed in.
    """
    from orchestrator.api import (
        apps,
        auth,
        cluster,
        dashboard,
        errors,
        hosts,
        managers,
        nodes,
        pods,
        prometheus,
        security,
    )

    app = Flask(__name__, static_folder=None)   # the dashboard blueprint serves /static
    provider = app.json
    if isinstance(provider, DefaultJSONProvider):
        provider.sort_keys = False                 # answers keep their fields' order
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES   # larger bodies get a JSON 413
    app.extensions["simplecloud.usecases"] = cases
    app.extensions["simplecloud.controller"] = controller
    app.extensions["simplecloud.telemetry"] = telemetry or (controller.telemetry if controller else Telemetry())

    @app.before_request
    def _etcd_budget():
        g.etcd_budget = budget.start(etcd_budget)

    @app.teardown_request
    def _end_budget(_exc):
        token = g.pop("etcd_budget", None)
        if token is not None:
            budget.end(token)

    errors.register_error_handlers(app)
    auth.init_app(app, token)
    security.init_app(app)
    for module in (cluster, managers, pods, hosts, nodes, apps):
        app.register_blueprint(module.bp, url_prefix="/api")
    app.register_blueprint(prometheus.bp)          # /metrics: outside /api, no token
    app.register_blueprint(dashboard.bp)        # / (the page), /static, /api/dashboard

    @app.after_request
    def _log_change(response):
        """One log line per state-changing request: the manager's audit trail."""
        if request.method not in auth.SAFE_METHODS:
            log.info("%s %s -> %d (from %s)", request.method, request.path, response.status_code,
                     security.client_address(request))
        return response

    return app


def usecases() -> UseCases:
    """The use cases the running app was built with (for views)."""
    cases: UseCases = current_app.extensions["simplecloud.usecases"]
    return cases


def controller() -> RunningController | None:
    """The running controller (for figures), or None."""
    running: RunningController | None = current_app.extensions["simplecloud.controller"]
    return running


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
