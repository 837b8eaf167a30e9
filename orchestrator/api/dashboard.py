"""The live dashboard: one page, its two assets, and one JSON snapshot.

    GET /                   the page (orchestrator/static/index.html); open: it holds no data
    GET /static/<file>      dashboard.js, dashboard.css
    GET /api/dashboard      everything the page shows, in one answer (token required)

The page asks for the token, keeps it in the tab's sessionStorage and polls
``/api/dashboard`` every 2 s (docs/decisions.md says why polling and not
server-sent events). Its buttons call the API's own endpoints (PUT
/api/apps/<app>/scale, POST /api/pods/<pod>/pause|resume, DELETE
/api/apps/<app>); nothing here changes state.

The snapshot is put together from the use cases' views (the same the API's
other reads give) and, when the manager runs its controller, the sampler's
figures and series (``control/sampler.py``); without one
(``--no-controller``) ``figures`` and ``series`` are empty and ``controller``
is false.
"""
from __future__ import annotations

import time
from pathlib import Path

from flask import Blueprint, jsonify

from orchestrator.api import controller, responses, to_json, usecases
from orchestrator.api.openapi import doc

STATIC = Path(__file__).resolve().parent.parent / "static"
EVENTS = 30           # recent events in a snapshot
SERIES_SECONDS = 120  # history of the sparklines
SERIES_STEP = 2       # seconds per point

bp = Blueprint("dashboard", __name__, static_folder=str(STATIC), static_url_path="/static")


@bp.get("/")
def page():
    return bp.send_static_file("index.html")


@bp.get("/api/dashboard")
@doc(summary="Everything the dashboard (GET /) shows, in one snapshot", answer="The snapshot.",
     returns=responses.Dashboard, description=(
         "Pods with capacity, nodes with desired and observed state, apps with routes and autoscale policies, "
         "the sampler's figures and per-app series (the last 120 s in 2 s points; empty when the manager runs "
         "without its controller), and the 30 most recent events. The page polls it every 2 s."))
def snapshot():
    uc, ctl = usecases(), controller()
    sampler = getattr(ctl, "sampler", None)
    return jsonify(to_json({
        "time": time.time(),
        "controller": ctl is not None,
        "pods": uc.pods.list(),
        "nodes": uc.nodes.list(),
        "apps": uc.apps.list(),
        "figures": sampler.figures() if sampler is not None else {},
        "series": sampler.series(SERIES_SECONDS, SERIES_STEP) if sampler is not None else {},
        "events": uc.cluster.events(EVENTS),
    }))
