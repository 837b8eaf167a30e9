"""The OpenAPI document, generated: from the routes, the models of what they
take (core/schema.py) and answer (api/responses.py), and what each view says
of itself with ``@doc`` (its summary and description, the answer, the errors).

The API is described once: the routes Flask serves are the paths of the
document (tests/unit/api/test_openapi.py checks every route is there and
nothing else), the constraints the API enforces are the request schemas
(the very models it parses with), and docs/api.md holds the examples and
points at ``GET /api/openapi.json``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin

from flask import Flask
from pydantic import BaseModel, TypeAdapter

from orchestrator import __version__
from orchestrator.api import responses
from orchestrator.core import fields, schema

REF = "#/components/schemas/{model}"
F = TypeVar("F", bound=Callable[..., Any])

DESCRIPTION = """\
The manager's REST API. It only writes *desired* state (to etcd); the
reconcile controller makes the pod hosts and HAProxy match it.

Every call needs `Authorization: Bearer <token>`, the token the manager
keeps in its token file (`settings.token_file`, mode 600), except
`GET /api/health` and `GET /api/openapi.json`.

Every error is JSON: `{"error": "<what is wrong and what to change>",
"field": "<offending input field, if any>"}`. 400: a value breaks the
contract below; 404: a named pod, node, app or host does not exist; 409: the
request is well formed but clashes with the current state (name taken,
pod full, limits above the pod's node size, image missing on the host);
503: etcd (or the pod host a call needs) does not answer.
"""

ERRORS = {
    400: ("BadRequest", "Malformed input; `field` names what to change."),
    401: ("Unauthorized", "Missing or wrong bearer token."),
    404: ("NotFound", "The named pod, node, app or host does not exist."),
    409: ("Conflict", "Well formed, but clashes with the current state (name or route taken, pod full or "
                      "not empty, limits above the pod's node size, image not on the host, no NEW node...)."),
    413: ("TooLarge", "The request body is larger than 1 MiB."),
    503: ("Unavailable", "etcd or the pod host this needs does not answer right now; try again later."),
}
"""Status → (the component of ``responses``, its description)."""

PATH_PARAMETERS = {"pod": "Name", "node": "Name", "app": "Name", "host": "HostName"}
"""The names in the paths and their schemas: a ``Name`` (a DNS label) or a ``HostName``."""


@dataclass(frozen=True)
class Query:
    """A query parameter: ``schema`` is a JSON Schema (or a model's name, as ``Name``)."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Doc:
    """What a view says of itself for the document."""

    summary: str
    answer: str                       # the description of the success answer
    returns: Any = None               # a model of api/responses.py, list[Model], or a JSON Schema dict
    status: int = 200
    errors: tuple[int, ...] = (401, 503)  # the statuses of ``ERRORS`` it may answer
    body: type[schema.Body] | None = None
    description: str = ""
    query: tuple[Query, ...] = ()
    open: bool = False                # no token needed
    extra: dict[str, Any] = field(default_factory=dict)


def doc(**parts: Any) -> Callable[[F], F]:
    """``@doc(summary=..., answer=..., returns=...)`` on a view: its part of the document."""
    def mark(view: F) -> F:
        view.__openapi__ = Doc(**parts)  # type: ignore[attr-defined]  # a plain attribute on the function
        return view
    return mark


# ---------------------------------------------------------------- schemas

def _without_null_defaults(node: Any) -> Any:
    """Drop ``"default": null`` (absent optional fields; null itself may not be allowed)."""
    if isinstance(node, dict):
        return {k: _without_null_defaults(v) for k, v in node.items() if not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_without_null_defaults(v) for v in node]
    return node


def model_schemas(models: tuple[type[BaseModel], ...],
                  mode: Literal["validation", "serialization"]) -> dict[str, dict[str, Any]]:
    """JSON Schemas of ``models`` and of the models inside them, by component name."""
    out: dict[str, dict[str, Any]] = {}
    for model in models:
        generated = model.model_json_schema(ref_template=REF, mode=mode)
        out.update(generated.pop("$defs", {}))
        out[model.__name__] = generated
    return {name: _without_null_defaults(s) for name, s in out.items()}


def generated_schemas() -> dict[str, dict[str, Any]]:
    """The components: request models (validation), answers (serialization) and ``Name``."""
    out = model_schemas(schema.REQUEST_MODELS, "validation")
    answers = model_schemas(responses.COMPONENTS, "serialization")
    clash = sorted(set(out) & set(answers))
    if clash:
        raise ValueError(f"components {clash} are both a request and an answer model; rename one")
    out.update(answers)
    out["Name"] = TypeAdapter(fields.PodName).json_schema(ref_template=REF)
    out["HostName"] = TypeAdapter(fields.HostName).json_schema(ref_template=REF)
    return out


def returns_schema(returns: Any) -> dict[str, Any]:
    """A response schema: a model's component, a list of them, or a JSON Schema given as is."""
    if isinstance(returns, dict):
        return returns
    if get_origin(returns) is list:
        return {"type": "array", "items": returns_schema(get_args(returns)[0])}
    if isinstance(returns, type) and issubclass(returns, BaseModel):
        name = returns.__name__
        if name in {m.__name__ for m in responses.COMPONENTS}:
            return {"$ref": REF.format(model=name)}
        return _without_null_defaults(returns.model_json_schema(ref_template=REF, mode="serialization"))
    raise TypeError(f"cannot describe {returns!r} in the document")


def _refs_of(node: Any) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        found = {ref.rsplit("/", 1)[1]} if isinstance(ref, str) and ref.startswith("#/components/schemas/") else set()
        return found.union(*(_refs_of(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs_of(v) for v in node))
    return set()


# ---------------------------------------------------------------- operations

def operation(view_doc: Doc) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": view_doc.summary}
    if view_doc.description:
        op["description"] = view_doc.description
    if view_doc.open:
        op["security"] = []
    if view_doc.query:
        op["parameters"] = [{"name": q.name, "in": "query", "schema": q.schema} for q in view_doc.query]
    if view_doc.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": REF.format(model=view_doc.body.__name__)}}}}
    answer: dict[str, Any] = {"description": view_doc.answer}
    if view_doc.returns is not None:
        answer["content"] = {"application/json": {"schema": returns_schema(view_doc.returns)}}
    op["responses"] = {str(view_doc.status): answer, **{
        str(code): {"$ref": f"#/components/responses/{ERRORS[code][0]}"} for code in sorted(view_doc.errors)}}
    op.update(view_doc.extra)
    return op


def paths(app: Flask) -> dict[str, dict[str, Any]]:
    """Every /api route with its operations (from the views' ``@doc``), in the order they were added."""
    out: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        view = app.view_functions[rule.endpoint]
        view_doc: Doc | None = getattr(view, "__openapi__", None)
        if view_doc is None:
            raise ValueError(f"route {rule.rule} ({rule.endpoint}) has no @doc: say what it does")
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        item = out.setdefault(path, {})
        names = sorted(rule.arguments, key=path.index)
        if names:
            item["parameters"] = [{"$ref": f"#/components/parameters/{n}"} for n in names]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            item[method.lower()] = operation(view_doc)
    return out


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 description of ``app``'s API."""
    schemas = generated_schemas()
    the_paths = paths(app)
    for name in sorted(_refs_of(the_paths) - set(schemas)):       # answers described in place, e.g. lists
        raise ValueError(f"the document refers to a schema {name} that is not generated")
    return {
        "openapi": "3.1.0",
        "info": {"title": "simplecloud API", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": "http://127.0.0.1:5000"}],
        "security": [{"bearer": []}],
        "paths": the_paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {n: {"name": n, "in": "path", "required": True,
                               "schema": {"$ref": REF.format(model=kind)}} for n, kind in PATH_PARAMETERS.items()},
            "responses": _error_responses(),
            "schemas": schemas,
        },
    }


def _error_responses() -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}
    out: dict[str, Any] = {name: {"description": text, "content": error} for name, text in ERRORS.values()}
    out["Unauthorized"]["headers"] = {"WWW-Authenticate": {
        "schema": {"type": "string", "examples": ['Bearer realm="simplecloud"']}}}
    return out
