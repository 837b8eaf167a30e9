"""What the controller saw: each node's observed record (a host's reachability: hosts.py).

These are the controller's own writes (never the API's): a record that is
damaged is skipped, and the controller's next write replaces it. A node's
record is written only while the node exists (a pass that looked before the
node was removed cannot bring it back), and deleted by the reconciler once
the node is gone, or with its pod (desired.delete_pod).
"""
from __future__ import annotations

from typing import Any

from orchestrator.edges.store.etcd import CorruptRecord, Etcd
from orchestrator.edges.store.keys import decode_observed


def put_observed(etcd: Etcd, pod: str, node: str, state: dict[str, Any]) -> bool:
    """Write a node's observed record if the node exists; whether it was written."""
    return etcd.txn([etcd.exists(f"nodes/{pod}/{node}")], [etcd.put_op(f"observed/{pod}/{node}", state)])


def get_observed(etcd: Etcd, pod: str, node: str) -> dict[str, Any] | None:
    """A node's observed record; None if absent or damaged (it is only the
    controller's last look, and its next write replaces it)."""
    try:
        found = etcd.get(f"observed/{pod}/{node}", decode_observed)
    except CorruptRecord:
        return None
    return found[1] if found else None


def list_observed(etcd: Etcd) -> dict[tuple[str, str], dict[str, Any]]:
    """Every observed record, keyed by (pod, node); damaged ones skipped."""
    return dict(etcd.list("observed/", decode_observed))


def delete_observed(etcd: Etcd, pod: str, node: str) -> None:
    etcd.delete(f"observed/{pod}/{node}")
