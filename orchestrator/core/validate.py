"""Input validation: turn untrusted request values into model values, or say what to change.

Every check raises `errors.ValidationError(field, message)` (HTTP 400); the
message names the field, the bad value and what an acceptable value looks
like. Capacity checks raise `errors.CapacityError` (409), because the request
is well formed but the pod is too full for it.

The service layer calls these *before* writing anything, so a bad request
never leaves half-applied state behind. All functions are pure.
"""

from __future__ import annotations

import dataclasses
import re
import shlex

from orchestrator.core.errors import CapacityError, ValidationError
from orchestrator.core.model import BALANCE_ALGORITHMS, App, Pod

# --- limits ---
MAX_NODES_LIMIT = 1000          # max_nodes of a pod
MAX_REPLICAS = 1000
MAX_CPUS = 64.0
MIN_MEMORY_MB = 16              # docker refuses less than 6 MiB; below 16 nothing useful runs
MAX_MEMORY_MB = 1024 * 1024
MAX_APP_NAME = 56               # so that node names "<app>-<n>" stay DNS labels (≤ 63)

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_PATH = re.compile(r"^/([A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*)?$")

# Docker image reference grammar (distribution/reference), simplified but equivalent
# for what docker accepts: [domain[:port]/]path[/path...][:tag][@digest]
_DOMAIN_COMP = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMP}(?:\.{_DOMAIN_COMP})*(?::[0-9]+)?)"
_PATH_COMP = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_PATH_COMP}(?:/{_PATH_COMP})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$")

POD_FIELDS = ("name", "host", "max_nodes", "cpus", "memory_mb", "app")
APP_FIELDS = ("name", "image", "command", "port", "pod", "path", "host",
              "balance", "health_path", "strip_path", "replicas", "cpus", "memory_mb")
UPDATE_FIELDS = ("image", "command", "port", "cpus", "memory_mb", "path", "host", "balance",
                 "health_path", "strip_path")
"""What `cloud app update` may change; the name and the pod stay."""


# --- single values ---

def name(value, field: str = "name", kind: str = "name", max_len: int = 63) -> str:
    """A DNS label: 1–63 of [a-z0-9-], not starting or ending with '-'."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field, f"{kind} is required: give a name like 'web-1' "
                                     f"(lowercase letters, digits and '-')")
    if len(value) > max_len:
        raise ValidationError(field, f"{kind} {value!r} is {len(value)} characters long; "
                                     f"use at most {max_len}")
    if not _LABEL.match(value):
        raise ValidationError(
            field, f"{kind} {value!r} is not a valid name: use only lowercase letters a-z, "
                   f"digits and '-', not starting or ending with '-' (e.g. 'web-1')")
    return value


def integer(value, field: str, low: int, high: int, what: str | None = None) -> int:
    """An int in [low, high]; digit strings are accepted (they come from CLIs and forms)."""
    what = what or field
    if isinstance(value, bool):
        value = None
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValidationError(field, f"{what} must be a whole number from {low} to {high}, "
                                     f"got {value!r}")
    if not low <= value <= high:
        raise ValidationError(field, f"{what} must be from {low} to {high}, got {value}")
    return value


def port(value, field: str = "port") -> int:
    return integer(value, field, 1, 65535, "port")


def replicas(value, field: str = "replicas") -> int:
    return integer(value, field, 0, MAX_REPLICAS, "replicas")


def cpus(value, field: str = "cpus") -> float:
    """CPUs per node: a positive number up to MAX_CPUS (e.g. 0.25)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        result = float(value)
    except (TypeError, ValueError):
        raise ValidationError(field, f"cpus must be a positive number like 0.25 or 1, "
                                     f"got {value!r}") from None
    if not 0 < result <= MAX_CPUS:
        raise ValidationError(field, f"cpus must be more than 0 and at most {MAX_CPUS:g}, "
                                     f"got {value!r}")
    return result


def memory_mb(value, field: str = "memory_mb") -> int:
    return integer(value, field, MIN_MEMORY_MB, MAX_MEMORY_MB, "memory_mb (MiB per node)")


def max_nodes(value, field: str = "max_nodes") -> int:
    return integer(value, field, 1, MAX_NODES_LIMIT, "max_nodes")


def flag(value, field: str) -> bool:
    """A JSON boolean (true/false), nothing else."""
    if not isinstance(value, bool):
        raise ValidationError(field, f"{field} must be true or false, not {value!r}")
    return value


def balance(value, field: str = "balance") -> str:
    if value not in BALANCE_ALGORITHMS:
        raise ValidationError(field, f"balance {value!r} is not supported; "
                                     f"use one of {', '.join(BALANCE_ALGORITHMS)}")
    return value


def path(value, field: str = "path") -> str:
    """A clean URL path prefix: starts with '/', no '//', '.', '..', query or trailing '/'."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValidationError(field, f"{field} {value!r} must start with '/', e.g. '/web'")
    segments = value.strip("/").split("/")
    if (not _PATH.match(value) or any(s in (".", "..") for s in segments)) and value != "/":
        raise ValidationError(
            field, f"{field} {value!r} is not a clean path prefix: use segments of letters, "
                   f"digits and '.-_~' separated by single '/', no trailing '/', "
                   f"no '.' or '..' segments, no query (e.g. '/web' or '/api/v1')")
    return value


def hostname(value, field: str = "host") -> str:
    """An RFC 1123 host name (lower-cased), e.g. 'pod-light' or 'web.example.org'."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field, f"{field} is required: give a host name like 'pod-light'")
    host = value.lower().rstrip(".")
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(lbl) for lbl in labels):
        raise ValidationError(
            field, f"{field} {value!r} is not a valid host name: use dot-separated labels of "
                   f"letters, digits and '-' (e.g. 'pod-light' or 'web.example.org')")
    return host


def image(value, field: str = "image") -> str:
    """A Docker image reference: [registry[:port]/]name[:tag][@digest]."""
    if not isinstance(value, str) or not value or len(value) > 512 or not _IMAGE.match(value):
        raise ValidationError(
            field, f"image {value!r} is not a valid image reference; write it like "
                   f"'nginx:1.25', 'simplecloud/light' or 'manager:5050/team/app:v2' "
                   f"(lowercase repository name)")
    return value


def command(value, field: str = "command") -> tuple[str, ...]:
    """An argument list run without a shell. A string is split like a shell would (shlex)."""
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError as exc:
            raise ValidationError(field, f"command {value!r} cannot be split into arguments "
                                         f"({exc}); check its quotes") from None
    if not isinstance(value, (list, tuple)) or not value:
        raise ValidationError(field, "command must be a non-empty list of arguments, "
                                     "e.g. [\"nc\", \"-lk\", \"-p\", \"9000\"]")
    if not all(isinstance(a, str) and "\0" not in a for a in value):
        raise ValidationError(field, "every command argument must be a string without NUL bytes")
    if not value[0]:
        raise ValidationError(field, "the first command argument (the program) must not be empty")
    return tuple(value)


def health_path(value, field: str = "health_path") -> str:
    """'' (TCP check) or a clean path like '/health'."""
    if value in ("", None):
        return ""
    return path(value, field)


def no_unknown_fields(spec: dict, allowed: tuple[str, ...], what: str) -> None:
    if not isinstance(spec, dict):
        raise ValidationError(None, f"{what} must be a JSON object with the fields "
                                    f"{', '.join(allowed)}")
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValidationError(unknown[0], f"unknown {what} field(s): {', '.join(unknown)}; "
                                          f"allowed fields are {', '.join(allowed)}")


# --- whole resources ---

def pod_spec(spec: dict) -> Pod:
    """A Pod from a request body {name, host, max_nodes, cpus, memory_mb, app?}."""
    no_unknown_fields(spec, POD_FIELDS, "pod")
    for required in ("name", "host", "max_nodes", "cpus", "memory_mb"):
        if spec.get(required) in (None, ""):
            raise ValidationError(required, f"pod field {required!r} is required")
    app = spec.get("app")
    return Pod(
        name=name(spec["name"], "name", "pod name"),
        host=hostname(spec["host"], "host"),
        max_nodes=max_nodes(spec["max_nodes"]),
        cpus=cpus(spec["cpus"]),
        memory_mb=memory_mb(spec["memory_mb"]),
        app=name(app, "app", "app name", MAX_APP_NAME) if app not in (None, "") else None,
    )


def app_spec(spec: dict) -> tuple[App, int]:
    """An App and its initial replica count from a deploy request.

    Required: name, pod, port, and exactly one of image / command. If neither
    path nor host is given, the app is reachable at path '/<name>'.
    """
    no_unknown_fields(spec, APP_FIELDS, "app")
    for required in ("name", "pod", "port"):
        if spec.get(required) in (None, ""):
            raise ValidationError(required, f"app field {required!r} is required")
    has_image = spec.get("image") not in (None, "")
    has_command = spec.get("command") not in (None, "", [])
    if has_image == has_command:
        raise ValidationError("image", "give exactly one of image (e.g. 'nginx:1.25') or "
                                       "command (e.g. 'nc -lk -p 9000'), not both and not neither")
    app_name = name(spec["name"], "name", "app name", MAX_APP_NAME)
    route_path = spec.get("path") or None
    route_host = spec.get("host") or None
    if route_path is None and route_host is None:
        route_path = f"/{app_name}"
    app = App(
        name=app_name,
        pod=name(spec["pod"], "pod", "pod name"),
        port=port(spec["port"]),
        image=image(spec["image"]) if has_image else None,
        command=command(spec["command"]) if has_command else None,
        path=path(route_path) if route_path is not None else None,
        host=hostname(route_host, "host") if route_host is not None else None,
        balance=balance(spec.get("balance") or "roundrobin"),
        health_path=health_path(spec.get("health_path")),
        strip_path=flag(spec.get("strip_path", False), "strip_path"),
        cpus=cpus(spec["cpus"]) if spec.get("cpus") is not None else None,
        memory_mb=memory_mb(spec["memory_mb"]) if spec.get("memory_mb") is not None else None,
    )
    return app, replicas(spec.get("replicas", 1))


def app_update(app: App, changes: dict) -> App:
    """``app`` with ``changes`` (a subset of UPDATE_FIELDS) applied and checked.

    Giving an image replaces the command and the other way round; ``cpus`` or
    ``memory_mb`` null means "the pod's node size" again; an empty path or
    host removes that route (one of the two must remain).
    """
    no_unknown_fields(changes, UPDATE_FIELDS, "app update")
    if not changes:
        raise ValidationError(None, f"nothing to change: give at least one of {', '.join(UPDATE_FIELDS)}")
    new: dict = {}
    if changes.get("image") not in (None, "") and changes.get("command") not in (None, "", []):
        raise ValidationError("image", "give an image or a command, not both")
    if changes.get("image") not in (None, ""):
        new.update(image=image(changes["image"]), command=None)
    if changes.get("command") not in (None, "", []):
        new.update(command=command(changes["command"]), image=None)
    if "port" in changes:
        new["port"] = port(changes["port"])
    if "cpus" in changes:
        new["cpus"] = cpus(changes["cpus"]) if changes["cpus"] is not None else None
    if "memory_mb" in changes:
        new["memory_mb"] = memory_mb(changes["memory_mb"]) if changes["memory_mb"] is not None else None
    if "path" in changes:
        new["path"] = path(changes["path"]) if changes["path"] else None
    if "host" in changes:
        new["host"] = hostname(changes["host"], "host") if changes["host"] else None
    if "balance" in changes:
        new["balance"] = balance(changes["balance"])
    if "health_path" in changes:
        new["health_path"] = health_path(changes["health_path"])
    if "strip_path" in changes:
        new["strip_path"] = flag(changes["strip_path"], "strip_path")
    updated = dataclasses.replace(app, **new)
    if updated.path is None and updated.host is None:
        raise ValidationError("path", f"app {app.name} needs a route: keep a path or a host")
    return updated


def limits_fit(app: App, pod: Pod) -> None:
    """An app's own limits must fit in its pod's node size."""
    if app.cpus is not None and app.cpus > pod.cpus:
        raise ValidationError("cpus", f"cpus {app.cpus:g} is more than the node size of pod "
                                      f"{pod.name} ({pod.cpus:g} CPU); ask for at most {pod.cpus:g}")
    if app.memory_mb is not None and app.memory_mb > pod.memory_mb:
        raise ValidationError("memory_mb", f"memory_mb {app.memory_mb} is more than the node size of "
                                           f"pod {pod.name} ({pod.memory_mb} MiB); ask for at most "
                                           f"{pod.memory_mb}")


def capacity(pod: Pod, used: int, wanted: int) -> None:
    """Raise CapacityError unless `wanted` more nodes fit into `pod` that already has `used`."""
    free = pod.max_nodes - used
    if wanted <= free:
        return
    if free <= 0:
        raise CapacityError(f"pod {pod.name!r} is full: {used} of {pod.max_nodes} nodes; "
                            f"remove a node or use another pod")
    raise CapacityError(f"pod {pod.name!r} has room for {free} more node(s) "
                        f"({used} of {pod.max_nodes} used), cannot add {wanted}; "
                        f"ask for at most {free}, remove nodes, or use another pod")
