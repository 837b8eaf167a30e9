"""Request bodies as the API parses them (``validate.parse`` against core/schema.py),
for tests that call the use cases directly with what the edge would hand them."""
from __future__ import annotations

from orchestrator.core import schema, validate


def pod_spec(**fields) -> schema.PodSpec:
    return validate.parse(schema.PodSpec, fields, "the pod")


def node_spec(name: str, pod: str, app: str | None = None) -> schema.NodeSpec:
    return validate.parse(schema.NodeSpec, {"name": name, "pod": pod, **({"app": app} if app else {})}, "the node")


def app_spec(**fields) -> schema.AppSpec:
    return validate.parse(schema.AppSpec, fields, "the app")


def app_update(**fields) -> schema.AppUpdate:
    return validate.parse(schema.AppUpdate, fields, "the update")


def policy(**fields) -> schema.Autoscale:
    return validate.parse(schema.Autoscale, fields, "the autoscale policy")
