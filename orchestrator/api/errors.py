"""Every error the API returns is JSON, and never a traceback.

Three kinds of failure reach the client:

* ``SimpleCloudError`` from the service layer (validation, not found,
  conflict, capacity, unauthorized): its own HTTP status and ``to_dict()``;
* HTTP errors raised by Flask/Werkzeug itself (unknown route 404, wrong
  method 405, ...): the status with a one-line message;
* anything else is a bug or an outage: 500 with a fixed message, while the
  full traceback goes to the manager log, where an operator can read it.

The helpers at the end read request input for the views. A request that is
malformed before it even reaches the service (a body that is not JSON, not
an object, nested too deeply) raises ``ValidationError`` (400); so does a
field that breaks ``core/schema.py``, with a message naming the field.
"""
from __future__ import annotations

import json
import logging

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from orchestrator.core.errors import SimpleCloudError, ValidationError
from orchestrator.core.schema import short
from orchestrator.core.validate import json_type

log = logging.getLogger("orchestrator.api")

INTERNAL_ERROR = "internal error, see the manager log"


def _http_message(exc: HTTPException) -> str:
    if exc.code == 404:
        return f"no such API route: {request.method} {request.path} (see /api/openapi.json)"
    if exc.code == 405:
        allowed = ", ".join(sorted(m for m in (exc.valid_methods or []) if m not in ("HEAD", "OPTIONS")))
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
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error in %s %s", request.method, request.path)
        return jsonify({"error": INTERNAL_ERROR}), 500


# --- reading request input -------------------------------------------------
# The views call these instead of touching ``request`` directly, so every
# malformed input produces the same kind of precise 400. What the fields of a
# body may be is checked by ``core.validate`` against ``core.schema``.

MAX_DEPTH = 32
"""Deepest nesting of lists and objects a body may have (ours need 2)."""


def json_body() -> dict:
    """Return the request body as a dict, or raise ValidationError saying why not."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ValidationError(None, "the request body is empty; send a JSON object (Content-Type: application/json)")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):      # RecursionError: nested deeper than Python's stack
        raise ValidationError(None, "the request body is not valid JSON (or is nested too deeply); "
                                    "send a JSON object such as {\"name\": \"...\"}") from None
    if not isinstance(body, dict):
        raise ValidationError(None, f"the request body must be a JSON object, not {json_type(body)}")
    if _depth(body) > MAX_DEPTH:
        raise ValidationError(None, f"the request body is nested more than {MAX_DEPTH} levels deep; "
                                    "send a flat JSON object of the documented fields")
    return body


def _depth(value) -> int:
    """Nesting depth of lists/objects, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def int_arg(name: str, default: int | None = None, minimum: int = 0, maximum: int | None = None) -> int | None:
    """Read an integer query parameter such as ``?tail=100``."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 12:
        raise ValidationError(name, f"query parameter {name!r} must be an integer, not {short(raw)}")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ValidationError(name, f"query parameter {name!r} must be at least {minimum}{upper}, not {value}")
    return value


