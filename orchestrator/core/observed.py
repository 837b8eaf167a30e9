"""What is real, per node and per host, in words a user reads (pure).

The desired status of a node (NEW, ONLINE, PAUSED) is what the user asked
for; its **phase** is what the controller last saw:

==============  ==========================================================
phase           meaning
==============  ==========================================================
``serving``     running, in HAProxy, passing its health check
``warm``        a warm node: running, passing its health check, taking no requests
                (or paused while its app is at zero: container ``paused``)
``starting``    being created or started, or not yet past its first check
``unhealthy``   running but failing its health check (replaced soon)
``backoff``     failed again and again; replaced at ``retry_at``
``stopped``     a NEW node: created, not running
``paused``      running, out of HAProxy (PAUSED)
``unreachable`` its host does not answer; the rest is the last thing seen
==============  ==========================================================

``updating`` is true while a container of an older spec still runs beside
(or instead of) the current one.
"""
from __future__ import annotations

from typing import Any

from orchestrator.core import healing
from orchestrator.core.healing import HealingPolicy, NodeHealth
from orchestrator.core.model import (
    App,
    Container,
    Node,
    NodeStatus,
    Pod,
    RecordError,
    Server,
    current_container,
    spec_generation,
)
from orchestrator.core.naming import backend_name, server_name

RECORD_TYPES: dict[str, type | tuple[type, ...]] = {"phase": str, "node_created": (int, float), "since": (int, float),
                "time": (int, float), "restarts": int, "updating": bool}
"""Fields of an observed record whose type the views and the reconciler rely on."""


def node_view(node: Node, app: App, pod: Pod, containers: list[Container],
              servers: dict[tuple[str, str], Server], health: NodeHealth, now: float,
              policy: HealingPolicy = HealingPolicy()) -> dict[str, Any]:
    """The observed record of one node (see the module docstring)."""
    gen = spec_generation(app, pod)
    cur = current_container(containers, gen)
    server = servers.get((backend_name(app), server_name(node.name, cur.id))) if cur else None
    view = {
        "node_created": node.created,     # the incarnation of the node this record is about
        "phase": _phase(node, cur, server, health, now, policy),
        "container": cur.state if cur else None,
        "gen": gen,
        "ip": cur.ip if cur else None,
        "host": node.host,
        "server": server.admin if server else None,
        "healthy": server.healthy if server else None,
        "restarts": health.restarts,
        "last_error": health.last_error,
        "updating": any(c.gen != gen for c in containers),
    }
    if view["phase"] == "backoff":
        view["retry_at"] = health.last_failure + healing.backoff(health.streak, policy)
    return view


def _phase(node: Node, c: Container | None, s: Server | None, health: NodeHealth, now: float,
           policy: HealingPolicy) -> str:
    if node.status == NodeStatus.NEW:
        return "stopped" if c is not None and c.state != "running" else "starting"
    if c is None or c.state == "created":
        return "starting"
    if health.failed_id == c.id:
        return "backoff"
    if c.state in healing.DEAD_STATES:
        return "starting"                  # seen dead, replaced in this very pass
    if node.warm and c.state == "paused" and node.status == NodeStatus.ONLINE:
        return "warm"                      # frozen while its app is at zero (container "paused")
    if node.status == NodeStatus.PAUSED:
        return "paused"
    if s is None or s.admin != ("drain" if node.warm else "ready"):
        return "starting"
    if s.healthy is False:
        failing = healing.suspect(c, s, health) or healing.failure(c, s, health, now, policy)
        return "unhealthy" if failing else "starting"
    return "warm" if node.warm else "serving"


def unreachable(previous: dict[str, Any] | None, host: str, error: str) -> dict[str, Any]:
    """A node's record while its host does not answer: the last thing seen, marked."""
    view = dict(previous or {"container": None, "ip": None, "server": None, "healthy": None,
                             "restarts": 0, "last_error": "", "updating": False})
    view.update(phase="unreachable", host=host, host_error=error)
    return view


def check_record(view: Any) -> dict[str, Any]:
    """An observed record read back from etcd, if it can be used as one:
    a JSON object whose known fields have their types and whose ``health``
    is a ``NodeHealth`` record; RecordError otherwise (the store skips it)."""
    if not isinstance(view, dict):
        raise RecordError(f"expected a JSON object, got {type(view).__name__}")
    for name, kind in RECORD_TYPES.items():
        value = view.get(name)
        if value is not None and (not isinstance(value, kind) or
                                  (isinstance(value, bool) and kind is not bool)):
            raise RecordError(f"field {name!r} is {value!r}, of the wrong type")
    NodeHealth.from_dict(view.get("health"))
    return view


def same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two records say the same (their timestamps aside)."""
    def strip(v: dict[str, Any] | None) -> dict[str, Any]:
        return {k: x for k, x in (v or {}).items() if k not in ("time", "since")}
    return a is not None and b is not None and strip(a) == strip(b)


def current(view: dict[str, Any] | None, node: Node) -> dict[str, Any] | None:
    """The record if it is about this incarnation of the node (a node removed
    and added again under the same name starts with no record), else None."""
    if view is None or view.get("node_created") != node.created:
        return None
    return view
