"""Input validation: turn untrusted request values into model values, or say what to change.

The constraints themselves live in ``core/schema.py`` and ``core/fields.py``
(pydantic models and field types, the same ones the OpenAPI document is
generated from); this module applies them
and turns pydantic's errors into one ``errors.ValidationError(field,
message)`` (HTTP 400) whose message names the field, the bad value and what
an acceptable value looks like. Matching is exact: anchored patterns
(fullmatch), ASCII only, JSON types as sent (no "80" for 80).

Checks that depend on current state raise ``errors.Conflict`` (409) instead:
the request is well formed but clashes with the pod it names
(``limits_fit``; capacity is core/placement.py's).

The API calls ``parse`` (and ``name`` for path parameters) as a request
comes in, once, before any use case runs; the use cases call the state
checks before writing anything, so a bad request never leaves half-applied
state behind. All functions are pure.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast, get_args

import pydantic
from pydantic import ConfigDict, TypeAdapter

from orchestrator.core import fields, schema
from orchestrator.core.errors import Conflict, ValidationError
from orchestrator.core.model import App, Pod

POD_FIELDS = tuple(schema.PodSpec.model_fields)
APP_FIELDS = tuple(schema.AppSpec.model_fields)
UPDATE_FIELDS = tuple(schema.AppUpdate.model_fields)
"""What `cloud app update` may change; the name and the pod stay."""

M = TypeVar("M", bound=schema.Body)

_STRICT = ConfigDict(strict=True, regex_engine="rust-regex")
_TYPE_NAMES = {"int_type": "an integer", "float_type": "a number", "string_type": "a string",
               "bool_type": "true or false", "list_type": "a list", "dict_type": "an object",
               "model_type": "an object"}


# --- pydantic errors -> one readable ValidationError ---

def _rule_of(annotation: Any) -> fields.Hint | None:
    """The Hint inside an Annotated type (also inside `X | None`)."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, fields.Hint):
            return meta
    for arg in get_args(annotation):
        found = _rule_of(arg)
        if found is not None:
            return found
    return None


def _field_rule(model: type[schema.Body], name: str) -> fields.Hint | None:
    info = model.model_fields.get(name)
    if info is None:
        return None
    return next((m for m in info.metadata if isinstance(m, fields.Hint)), None) or _rule_of(info.annotation)


def json_type(value: Any) -> str:
    """How a JSON value's type reads in a message: "a number", "a list", ..."""
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


def explain(error: Mapping[str, Any], field: str | None, rule: fields.Hint | None, whole: Any = None,
            nested: bool = False) -> str:
    """One sentence for one pydantic error about ``field`` (whose value was
    ``whole``; ``nested``: the error is about a part of it, e.g. command[1])."""
    kind, value = error["type"], error.get("input")
    example = f" (e.g. {rule.example!r})" if rule is not None else ""
    if kind == "missing":
        return f"field {field!r} is required{example}"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if rule is not None and nested:
        return rule.message(whole)
    if kind in _TYPE_NAMES and field is not None:
        return f"field {field!r} must be {_TYPE_NAMES[kind]}, not {json_type(value)} ({fields.short(value)}){example}"
    if kind == "string_too_short" and value == "" and rule is not None:
        return f"{rule.label} is required: give one like {rule.example!r}"
    if rule is not None:
        return rule.message(value)
    return f"{field or 'the request'}: {error['msg']}"


def _unknown_fields(errors: Sequence[Mapping[str, Any]], allowed: Iterable[str]) -> ValidationError | None:
    unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden"]
    if not unknown:
        return None
    names = ", ".join(repr(u) for u in unknown)
    return ValidationError(unknown[0], f"unknown field{'s' if len(unknown) > 1 else ''} {names}; "
                                       f"allowed fields are {', '.join(allowed)}")


def parse(model: type[M], body: Any, what: str) -> M:
    """``body`` parsed as ``model``, or ValidationError naming the first bad field."""
    if not isinstance(body, dict):
        raise ValidationError(None, f"{what} must be a JSON object with the fields "
                                    f"{', '.join(model.model_fields)}")
    try:
        return model.model_validate(_integrals(model, body))
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise _unknown_fields(errors, model.model_fields) or _first(model, errors, body) from None


def _first(model: type[schema.Body], errors: Sequence[Mapping[str, Any]], body: dict[str, Any]) -> ValidationError:
    error = errors[0]
    loc = error["loc"]
    field = str(loc[0]) if loc else None
    if field is None and "image" in str(error.get("msg")):
        field = "image"
    elif field is None and "hosts" in str(error.get("msg")):
        field = "hosts"
    rule = _field_rule(model, field) if field else None
    return ValidationError(field, explain(error, field, rule, body.get(field) if field else None,
                                          nested=len(loc) > 1))


def _integral(value: Any) -> Any:
    """80.0 -> 80: JSON does not tell 80.0 from 80 (JSON Schema calls both integers)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


def _integrals(model: type[schema.Body], body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with integral floats made ints where ``model`` wants integers,
    also inside lists of nested models (an autoscale policy's rules)."""
    out = {}
    for key, value in body.items():
        nested = _nested_model(model, key)
        if key in _int_fields(model):
            value = _integral(value)
        elif nested is not None and isinstance(value, list):
            value = [_integrals(nested, v) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


@functools.cache
def _nested_model(model: type[schema.Body], key: str) -> type[schema.Body] | None:
    """The model of a ``list[Model]`` field, else None."""
    field = model.model_fields.get(key)
    args = typing.get_args(field.annotation) if field is not None else ()
    nested = args[0] if len(args) == 1 else None
    return nested if isinstance(nested, type) and issubclass(nested, schema.Body) else None


@functools.cache
def _int_fields(model: type[schema.Body]) -> frozenset[str]:
    """Fields of ``model`` whose JSON Schema type is (or may be) integer."""
    props = model.model_json_schema()["properties"]
    return frozenset(name for name, prop in props.items()
                     if "integer" in [prop.get("type"), *(p.get("type") for p in prop.get("anyOf", ()))])


# --- single values (path parameters, the service's own arguments, haproxy_config) ---

@functools.cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation, config=_STRICT)


def check(annotation: Any, value: Any, field: str) -> Any:
    """``value`` checked against one schema type, e.g. ``check(fields.Port, 80, "port")``."""
    adapter = _adapter(annotation)
    if adapter.json_schema().get("type") == "integer":
        value = _integral(value)
    try:
        return adapter.validate_python(value)
    except pydantic.ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise ValidationError(field, explain(error, field, _rule_of(annotation), value,
                                             nested=bool(error["loc"]))) from None


_name_type = functools.lru_cache(maxsize=None)(fields.name_type)


def name(value: Any, field: str = "name", kind: str = "name", max_len: int = fields.MAX_NAME) -> str:
    """A DNS label: 1–63 of [a-z0-9-], not starting or ending with '-'."""
    if value is None or value == "":
        raise ValidationError(field, f"{kind} is required: give a name like 'web-1' "
                                     f"(lowercase letters, digits and '-')")
    return cast(str, check(_name_type(kind, max_len), value, field))


def balance(value: Any, field: str = "balance") -> str:
    return cast(str, check(fields.Balance, value, field))


def path(value: Any, field: str = "path") -> str:
    """A clean URL path prefix: starts with '/', no '//', '.', '..', query or trailing '/'."""
    return cast(str, check(fields.RoutePath, value, field))


def hostname(value: Any, field: str = "host") -> str:
    """An RFC 1123 host name (lower-cased), e.g. 'pod-light' or 'web.example.org'."""
    if value is None or value == "":
        raise ValidationError(field, f"{field} is required: give a host name like 'pod-light'")
    return cast(str, check(fields.HostName, value, field))


def health_path(value: Any, field: str = "health_path") -> str:
    """'' (TCP check) or a clean path like '/health'."""
    return cast(str, check(fields.HealthPath, "" if value is None else value, field))


# --- whole resources: a parsed request body into the model ---

def app_of(spec: schema.AppSpec, created: float) -> App:
    """The App a deploy request (already parsed) asks for. If neither path nor
    host is given, the app is reachable at path '/<name>'."""
    route_path = spec.path if spec.path is not None or spec.host is not None else f"/{spec.name}"
    return App(name=spec.name, pod=spec.pod, port=spec.port, image=spec.image, command=spec.command,
               path=route_path, host=spec.host, balance=spec.balance, health_path=spec.health_path,
               strip_path=spec.strip_path, cpus=spec.cpus, memory_mb=spec.memory_mb, security=spec.security,
               warm=spec.warm, created=created)


def updated(app: App, changes: schema.AppUpdate) -> App:
    """``app`` with ``changes`` (the fields the request gave) applied.

    Giving an image replaces the command and the other way round; ``cpus`` or
    ``memory_mb`` null means "the pod's node size" again; a null path or
    host removes that route (one of the two must remain: else Conflict).
    """
    new = {f: getattr(changes, f) for f in changes.model_fields_set}
    if "image" in changes.model_fields_set:
        new["command"] = None
    elif "command" in changes.model_fields_set:
        new["image"] = None
    result = dataclasses.replace(app, **new)
    if result.path is None and result.host is None:
        raise Conflict(f"app {app.name} needs a route: keep a path or a host", "path")
    return result


# --- checks against the current state (409) ---

def route_free(app: App, apps: Iterable[App], ignore: str | None = None) -> None:
    """Conflict if another of ``apps`` (but ``ignore``) already has ``app``'s route."""
    for other in apps:
        if other.name == ignore:
            continue
        if app.path and other.path == app.path and (other.host or None) == (app.host or None):
            raise Conflict(f"path {app.path!r} is already the route of app {other.name!r}; "
                           f"choose another path", "path")
        if app.host and not app.path and other.host == app.host and not other.path:
            raise Conflict(f"host {app.host!r} is already the route of app {other.name!r}; "
                           f"choose another host", "host")


def policy_bounds(policy: schema.Autoscale) -> None:
    """A policy whose min is above its max is well formed but clashes with itself
    (JSON Schema cannot say it): Conflict (409)."""
    if policy.min > policy.max:
        raise Conflict(f"min {policy.min} is more than max {policy.max}; give min ≤ max")


def limits_fit(app: App, pod: Pod) -> None:
    """An app's own limits must fit in its pod's node size (else Conflict, 409)."""
    if app.cpus is not None and app.cpus > pod.cpus:
        raise Conflict(f"cpus {app.cpus:g} is more than the node size of pod "
                       f"{pod.name} ({pod.cpus:g} CPU); ask for at most {pod.cpus:g}", "cpus")
    if app.memory_mb is not None and app.memory_mb > pod.memory_mb:
        raise Conflict(f"memory_mb {app.memory_mb} is more than the node size of "
                       f"pod {pod.name} ({pod.memory_mb} MiB); ask for at most {pod.memory_mb}", "memory_mb")
