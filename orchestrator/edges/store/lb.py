"""The load balancer's server tables (``lb/<backend>``) and who leads (``leader``).

The leader publishes its HAProxy's servers per backend after every change
(core/lb_table.py); every other manager mirrors them into its own HAProxy.
The leader key itself is written by the election (edges/election.py); here
it is only read, for ``cloud manager ls`` and the dashboard.
"""
from __future__ import annotations

import json
from typing import Any

from orchestrator.edges.store.etcd import LEADER_KEY, Etcd
from orchestrator.edges.store.keys import decode_plain


def put_lb_table(etcd: Etcd, backend: str, servers: list[dict[str, Any]]) -> None:
    etcd.put_json(f"lb/{backend}", {"servers": servers})


def delete_lb_table(etcd: Etcd, backend: str) -> None:
    etcd.delete(f"lb/{backend}")


def list_lb_tables(etcd: Etcd) -> dict[str, Any]:
    """backend → its published servers (JSON as written; core/lb_table.decode checks it)."""
    return {backend: record.get("servers") for backend, record in etcd.list("lb/", decode_plain)}


def get_leader(etcd: Etcd) -> dict[str, Any] | None:
    """The leader key's JSON with its ``epoch`` (create revision); None if nobody leads."""
    kv = etcd.get_raw(LEADER_KEY)
    if kv is None:
        return None
    try:
        data = json.loads(kv.value)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return {"name": str(data.get("name", "?")), "since": data.get("since"), "api": data.get("api", ""),
            "epoch": kv.create_revision}
