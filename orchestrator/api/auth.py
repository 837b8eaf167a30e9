"""Bearer-token authentication for every API call.

Every /api call needs ``Authorization: Bearer <token>`` with the token the
manager keeps in ``settings.token_file`` (see ``orchestrator/api/token_file.py``),
reads too: app specs hold command lines and logs may hold anything. Open are
only ``GET /api/health`` (liveness probes) and ``GET /api/openapi.json`` (the
contract), and OPTIONS, which answers with the allowed methods only. The comparison uses ``hmac.compare_digest`` so
that the time it takes does not leak how many leading characters matched.
"""
from __future__ import annotations

import hmac

from flask import Flask, current_app, jsonify, request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing (the audit log skips them)."""
OPEN_ENDPOINTS = frozenset({"cluster.health", "cluster.openapi"})
"""Flask endpoints anyone may call without the token."""


def token_matches(sent: str | None, expected: str) -> bool:
    """Constant-time comparison of the token a client sent with ours."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def bearer_token() -> str | None:
    """The token from the ``Authorization: Bearer ...`` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def init_app(app: Flask, token: str) -> None:
    """Require the token on every request to a known /api route but the open ones.

    Unknown routes fall through to the 404 handler so that a typo in a URL
    is reported as such rather than as an authentication problem.
    """
    app.config["SIMPLECLOUD_TOKEN"] = token

    @app.before_request
    def _require_token():
        if (request.method == "OPTIONS" or request.routing_exception is not None
                or request.endpoint in OPEN_ENDPOINTS or not request.path.startswith("/api/")):
            return None
        if token_matches(bearer_token(), current_app.config["SIMPLECLOUD_TOKEN"]):
            return None
        sent = "a wrong token was sent" if bearer_token() else "no bearer token was sent"
        response = jsonify({
            "error": f"authentication required: {sent}; send the header "
                     "'Authorization: Bearer <token>' with the token from the manager's token file "
                     "(the cloud CLI reads it from .simplecloud/token, $SIMPLECLOUD_TOKEN or --token)",
        })
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="simplecloud"'
        return response
