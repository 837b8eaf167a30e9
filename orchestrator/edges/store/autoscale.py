"""Autoscale records: each app's policy, and what the autoscaler remembers of it.

A policy is stored in the API's JSON form (``schema.Autoscale``, the same
model the API parsed it with, ``model_dump(exclude_none=True)``) and read
back through that model; the autoscaler's memory is a plain JSON object
(core/autoscale/state.py ``State`` and its last decision).
"""
from __future__ import annotations

from typing import Any

from orchestrator.core.schema import Autoscale
from orchestrator.edges.store.etcd import Etcd
from orchestrator.edges.store.keys import decode_autoscale, decode_plain


def put_autoscale(etcd: Etcd, app: str, policy: Autoscale | None) -> None:
    """An app's autoscale policy; None removes it and the autoscaler's memory of the app."""
    if policy is None:
        etcd.delete(f"autoscale/{app}")
        etcd.delete(f"autoscale-state/{app}")
    else:
        etcd.put_json(f"autoscale/{app}", policy.model_dump(mode="json", exclude_none=True))


def list_autoscale(etcd: Etcd) -> dict[str, Autoscale]:
    """app → policy, for every autoscaled app (damaged records skipped)."""
    return dict(etcd.list("autoscale/", decode_autoscale))


def get_autoscale(etcd: Etcd, app: str) -> Autoscale | None:
    found = etcd.get(f"autoscale/{app}", decode_autoscale)
    return found[1] if found else None


def put_autoscale_state(etcd: Etcd, app: str, state: dict[str, Any]) -> None:
    """What the autoscaler remembers of an app (windows, cooldowns, last decision)."""
    etcd.put_json(f"autoscale-state/{app}", state)


def list_autoscale_states(etcd: Etcd) -> dict[str, dict[str, Any]]:
    """app → the autoscaler's memory; a damaged one is skipped (the autoscaler starts afresh)."""
    return dict(etcd.list("autoscale-state/", decode_plain))


def put_spare_state(etcd: Etcd, pod: str, state: dict[str, Any]) -> None:
    """Since when the pod has had room without each host lent to it (core/spares.py); {} removes it."""
    if state:
        etcd.put_json(f"spares/{pod}", state)
    else:
        etcd.delete(f"spares/{pod}")


def list_spare_states(etcd: Etcd) -> dict[str, dict[str, Any]]:
    return dict(etcd.list("spares/", decode_plain))
