"""Every error the API returns is JSON, and never a traceback.

Three kinds of failure reach the client:

* ``SimpleCloudError`` from the edge's checks or the use cases (validation, not found,
  conflict, capacity, unauthorized): its own HTTP status and ``to_dict()``;
* HTTP errors raised by Flask/Werkzeug itself (unknown route 404, wrong
  method 405, ...): the status with a one-line message;
* anything else is a bug or an outage: 500 with a fixed message, while the
  full traceback goes to the manager log, where an operator can read it.

Reading and checking request input is api/params.py's.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from orchestrator.core.errors import SimpleCloudError

log = logging.getLogger("orchestrator.api")

INTERNAL_ERROR = "internal error, see the manager log"


def _http_message(exc: HTTPException) -> str:
    if exc.code == 404:
        return f"no such API route: {request.method} {request.path} (see /api/openapi.json)"
    if exc.code == 405:
        allowed = ", ".join(sorted(m for m in (getattr(exc, "valid_methods", None) or [])
                                   if m not in ("HEAD", "OPTIONS")))
        return f"method {request.method} is not allowed on {request.path}; allowed: {allowed}"
    if exc.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        return f"the request body is larger than {limit // 1024} KiB; send a smaller JSON object"
    return exc.description or exc.name


def register_error_handlers(app: Flask) -> None:
    """Install the three handlers described in the module docstring."""

    @app.errorhandler(SimpleCloudError)
    def _domain_error(exc: SimpleCloudError):
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        response = jsonify({"error": _http_message(exc)})
        response.status_code = exc.code or 500
        valid = getattr(exc, "valid_methods", None)      # a MethodNotAllowed's
        if exc.code == 405 and valid:
            response.headers["Allow"] = ", ".join(valid)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error in %s %s", request.method, request.path)
        return jsonify({"error": INTERNAL_ERROR}), 500
