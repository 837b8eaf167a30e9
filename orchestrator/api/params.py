"""Request input, read and checked once, where it comes in: the body, the
names in the path, the query parameters.

The views call these instead of touching ``request`` directly, so every
malformed input produces the same kind of precise 400, before any use case
runs. A request that is malformed before its fields are even looked at (a
body that is not JSON, not an object, nested too deeply) raises
``ValidationError``; so does a field that breaks ``core/schema.py``
(``body``, through ``core.validate.parse``), with a message naming the field.
"""
from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from flask import request

from orchestrator.core import validate
from orchestrator.core.errors import ValidationError
from orchestrator.core.fields import short
from orchestrator.core.schema import Body
from orchestrator.core.validate import json_type

M = TypeVar("M", bound=Body)

MAX_DEPTH = 32
"""Deepest nesting of lists and objects a body may have (ours need 2)."""
INTEGER = re.compile(r"-?[0-9]{1,12}")
"""An integer query parameter: one optional minus, ASCII digits ("--5" and "+5" are not)."""


def json_body() -> dict[str, Any]:
    """Return the request body as a dict, or raise ValidationError saying why not."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ValidationError(None, "the request body is empty; send a JSON object (Content-Type: application/json)")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):      # RecursionError: nested deeper than Python's stack
        raise ValidationError(None, "the request body is not valid JSON (or is nested too deeply); "
                                    "send a JSON object such as {\"name\": \"...\"}") from None
    if not isinstance(data, dict):
        raise ValidationError(None, f"the request body must be a JSON object, not {json_type(data)}")
    if _depth(data) > MAX_DEPTH:
        raise ValidationError(None, f"the request body is nested more than {MAX_DEPTH} levels deep; "
                                    "send a flat JSON object of the documented fields")
    return data


def _depth(value: Any) -> int:
    """Nesting depth of lists/objects, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def int_arg(name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    """Read an integer query parameter such as ``?tail=100``."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not INTEGER.fullmatch(raw):
        raise ValidationError(name, f"query parameter {name!r} must be an integer, not {short(raw)}")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ValidationError(name, f"query parameter {name!r} must be at least {minimum}{upper}, not {value}")
    return value




def body(model: type[M], what: str) -> M:
    """The request body parsed as ``model`` (e.g. ``schema.AppSpec``, "the app")."""
    return validate.parse(model, json_body(), what)


def name(value: str, field: str, kind: str) -> str:
    """A name from the path or the query (a DNS label), e.g. ``name(pod, "pod", "pod name")``."""
    return validate.name(value, field, kind)
