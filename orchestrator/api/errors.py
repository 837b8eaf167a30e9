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
an object, a field of the wrong type) raises ``ValidationError`` (400) whose
message names the field to change.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from orchestrator.core.errors import SimpleCloudError, ValidationError

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
# malformed input produces the same kind of precise 400.

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "an object"}


def json_body(allowed: set[str] | None = None) -> dict:
    """Return the request body as a dict, or raise ValidationError saying why not.

    With ``allowed``, unknown fields are refused too, so that a typo such as
    ``"replica"`` is reported instead of silently ignored.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ValidationError(None, "the request body is empty; send a JSON object (Content-Type: application/json)")
    body = request.get_json(force=True, silent=True)
    if body is None and raw.strip() != b"null":
        raise ValidationError(None, "the request body is not valid JSON; send a JSON object such as {\"name\": \"...\"}")
    if not isinstance(body, dict):
        raise ValidationError(None, f"the request body must be a JSON object, not {_json_type(body)}")
    if allowed is not None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ValidationError(unknown[0], f"unknown field {unknown[0]!r}; "
                                              f"allowed fields: {', '.join(sorted(allowed))}")
    return body


def field(body: dict, name: str, kind: type, *, required: bool = False, default=None):
    """Return ``body[name]`` checked to be of ``kind`` (None allowed if optional).

    ``int`` refuses booleans and floats; ``float`` accepts integers too.
    """
    if name not in body or body[name] is None:
        if required:
            raise ValidationError(name, f"field {name!r} is required")
        return default
    value = body[name]
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise ValidationError(name, f"field {name!r} must be {_TYPE_NAMES.get(kind, kind.__name__)}, "
                                    f"not {_json_type(value)} ({value!r})")
    return value


def int_arg(name: str, default: int | None = None, minimum: int = 0) -> int | None:
    """Read an integer query parameter such as ``?tail=100``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(name, f"query parameter {name!r} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ValidationError(name, f"query parameter {name!r} must be at least {minimum}, not {value}")
    return value


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
