"""The served OpenAPI document: hand-written paths, generated request schemas.

``openapi.yaml`` holds the paths, the responses and the response shapes. The
request bodies (and ``Name``, the type of every path parameter) come from
``core/schema.py``, the pydantic models ``core/validate.py`` checks requests
with, so the document states exactly the constraints the API enforces.
"""
from __future__ import annotations

import functools
from pathlib import Path

import yaml
from pydantic import TypeAdapter

from orchestrator.core import schema

OPENAPI_FILE = Path(__file__).resolve().parent.parent / "openapi.yaml"
REF_TEMPLATE = "#/components/schemas/{model}"


def generated_schemas() -> dict[str, dict]:
    """JSON Schemas of the request models and of ``Name``, by component name."""
    out = {}
    for model in schema.REQUEST_MODELS:
        generated = model.model_json_schema(ref_template=REF_TEMPLATE)
        out.update(generated.pop("$defs", {}))      # nested models (e.g. AutoscaleRule) are components too
        out[model.__name__] = generated
    out["Name"] = TypeAdapter(schema.PodName).json_schema(ref_template=REF_TEMPLATE)
    return {name: _without_null_defaults(s) for name, s in out.items()}


def _without_null_defaults(node):
    """Drop ``"default": null`` (absent optional fields; null itself may not be allowed)."""
    if isinstance(node, dict):
        return {k: _without_null_defaults(v) for k, v in node.items() if not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_without_null_defaults(v) for v in node]
    return node


@functools.lru_cache(maxsize=1)
def document() -> dict:
    """The OpenAPI 3.1 description of this API (built once)."""
    with OPENAPI_FILE.open(encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    schemas = doc["components"]["schemas"]
    for name, generated in generated_schemas().items():
        if name in schemas:
            raise ValueError(f"{OPENAPI_FILE}: schema {name} is generated from core/schema.py; "
                             "remove it from the YAML")
        schemas[name] = generated
    return doc
