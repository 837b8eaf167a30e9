"""The etcd key layout, written once: what lives where, and how each record decodes.

Every key is relative to the configurable prefix (``etcd_prefix``, default
``/simplecloud/``); docs/orchestrator.md points here.
"""
from __future__ import annotations

from typing import Any

from orchestrator.core.model import App, Node, Pod, RecordError
from orchestrator.core.observed import check_record
from orchestrator.core.schema import Autoscale
from orchestrator.edges.store.etcd import Revision

KEYS = {
    "pods/<pod>": "Pod JSON (desired state): its hosts, lent hosts, limit per host, node size",
    "apps/<app>": "App JSON (desired state)",
    "nodes/<pod>/<node>": "Node JSON (desired state: its host, moved_from, pending; its mod_revision is "
                          "Node.revision)",
    "podcount/<pod>": "number of node records in the pod (decimal text); also the pod's guard (etcd.py), "
                      "written by every add, remove or move of its nodes",
    "hosts/<host>": "Host JSON: capacity {nodes, cpus, memory_mb}, address, subnet (from the settings), "
                    "draining (hosts.py)",
    "hostload/<host>": "{nodes, cpus, memory_mb} taken by the nodes placed on the host, all pods together; "
                       "also the host's guard (hosts.py)",
    "links/<host>": "reachability of a host's link {reachable, since, error, rtt_ms} (written by the leader)",
    "events/<ns>-<seq>": "Event JSON; keys sort by time; at most max_events are kept",
    "observed/<pod>/<node>": "what the controller last saw of a node, and its healing record "
                             "(core/observed.py, core/healing.py)",
    "spares/<pod>": "{host: since}: since when the pod has had room without each host lent to it "
                    "(the autoscaler's memory, core/spares.py)",
    "autoscale/<app>": "the app's autoscale policy, the API's JSON form (core/schema.py Autoscale)",
    "autoscale-state/<app>": "what the autoscaler remembers of the app: windows, cooldowns, last decision",
    "routes/<hash>": "{app, host, path}: the app that has this route (core/naming.py route_key; routes.py)",
    "leader": "the leader's lease key ({name, since, api, pid}); its create revision is the leader's "
              "epoch, which fences every write of the acting loops (edges/election.py, etcd.py)",
    "lb/<backend>": "{servers: [...]}: a backend's server table as the leader's HAProxy has it, which "
                    "every other manager mirrors (core/lb_table.py, control/lb_mirror.py)",
}
"""Key pattern → what the record holds."""

DESIRED_KINDS = ("pods/", "apps/", "nodes/", "hosts/")
"""Writes under these wake the controller (watch.py); the rest are the controller's own."""

LB_KIND = "lb/"
"""Writes under this wake a follower's load-balancer mirror (watch.py ``lb_watcher``)."""


def check_key(rel_key: str, expected: str) -> None:
    if rel_key != expected:
        raise RecordError(f"the record belongs under {expected}, not {rel_key}")


def decode_pod(data: Any, _revision: Revision, rel_key: str) -> Pod:
    pod = Pod.from_dict(data)
    check_key(rel_key, f"pods/{pod.name}")
    return pod


def decode_app(data: Any, revision: Revision, rel_key: str) -> App:
    app = App.from_dict(data, revision=revision.mod, created_revision=revision.create)
    check_key(rel_key, f"apps/{app.name}")
    return app


def decode_node(data: Any, revision: Revision, rel_key: str) -> Node:
    node = Node.from_dict(data, revision=revision.mod)
    check_key(rel_key, f"nodes/{node.pod}/{node.name}")
    return node


def decode_observed(data: Any, _revision: Revision, rel_key: str) -> tuple[tuple[str, str], dict[str, Any]]:
    parts = rel_key.split("/")
    if len(parts) != 3:
        raise RecordError("the key is not observed/<pod>/<node>")
    return (parts[1], parts[2]), check_record(data)


def decode_plain(data: Any, _revision: Revision, rel_key: str) -> tuple[str, dict[str, Any]]:
    """A JSON object stored under ``<kind>/<name>``: (name, object)."""
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    return rel_key.split("/", 1)[1], data


def decode_autoscale(data: Any, revision: Revision, rel_key: str) -> tuple[str, Autoscale]:
    """A stored policy, checked by the same model the API parsed it with
    (pydantic's ValidationError is a ValueError: a damaged record)."""
    name, plain = decode_plain(data, revision, rel_key)
    return name, Autoscale.model_validate(plain)


def decode_memory(data: Any, revision: Revision, rel_key: str) -> tuple[str, dict[str, Any]]:
    """The autoscaler's memory of an app: {"state": object, "last": object}
    (either may be missing); anything else is a damaged record."""
    name, plain = decode_plain(data, revision, rel_key)
    for part in ("state", "last"):
        if plain.get(part) is not None and not isinstance(plain[part], dict):
            raise RecordError(f"{part} is {type(plain[part]).__name__}, not an object")
    return name, plain
