"""Autoscale records: each app's policy, and what the autoscaler remembers of it.

A policy is stored in the API's JSON form (``schema.Autoscale``, the same
model the API parsed it with, ``model_dump(exclude_none=True)``) and read
back through that model; the autoscaler's memory is a JSON object of two
parts, ``state`` (core/autoscale/state.py ``State``) and ``last`` (its last
decision), checked on the way in (``keys.decode_memory``).

Both belong to one incarnation of an app: they are written only while the
app created at the revision the writer read is there (``created_revision``),
and the transaction that deletes the app deletes them (nodes.py), so an app
deployed later under the same name inherits neither.
"""
from __future__ import annotations

from typing import Any

from orchestrator.core.errors import NotFound
from orchestrator.core.model import Event
from orchestrator.core.schema import Autoscale
from orchestrator.edges.store import events
from orchestrator.edges.store.etcd import Etcd
from orchestrator.edges.store.keys import decode_autoscale, decode_memory, decode_plain


def put_autoscale(etcd: Etcd, app: str, policy: Autoscale | None, event: Event | None = None,
                  created_revision: int = 0) -> None:
    """An app's autoscale policy; None removes it and the autoscaler's memory of
    the app. A policy is written only while the app exists (and is the
    incarnation created at ``created_revision``, when given): NotFound otherwise."""
    if policy is None:
        writes = [etcd.delete_op(f"autoscale/{app}"), etcd.delete_op(f"autoscale-state/{app}")]
        etcd.txn([], writes + events.ops(etcd, event))
    elif not etcd.txn(_the_app(etcd, app, created_revision),
                      [etcd.put_op(f"autoscale/{app}", policy.model_dump(mode="json", exclude_none=True)),
                       *events.ops(etcd, event)]):
        raise NotFound(f"app {app!r} does not exist (any more); see the apps with: cloud app ls")
    if event:
        events.written(etcd, etcd.max_events)


def list_autoscale(etcd: Etcd) -> dict[str, Autoscale]:
    """app → policy, for every autoscaled app (damaged records skipped)."""
    return dict(etcd.list("autoscale/", decode_autoscale))


def get_autoscale(etcd: Etcd, app: str) -> Autoscale | None:
    found = etcd.get(f"autoscale/{app}", decode_autoscale)
    return found[1] if found else None


def put_autoscale_state(etcd: Etcd, app: str, state: dict[str, Any], created_revision: int = 0) -> bool:
    """What the autoscaler remembers of an app (windows, cooldowns, last
    decision), if the app is still there (the incarnation created at
    ``created_revision``, when given); whether it was written."""
    return etcd.txn(_the_app(etcd, app, created_revision), [etcd.put_op(f"autoscale-state/{app}", state)])


def list_autoscale_states(etcd: Etcd) -> dict[str, dict[str, Any]]:
    """app → the autoscaler's memory; a damaged one is skipped (the autoscaler starts afresh)."""
    return dict(etcd.list("autoscale-state/", decode_memory))


def _the_app(etcd: Etcd, app: str, created_revision: int) -> list[Any]:
    key = f"apps/{app}"
    return [etcd.created_at(key, created_revision)] if created_revision else [etcd.exists(key)]


def put_spare_state(etcd: Etcd, pod: str, state: dict[str, Any]) -> None:
    """Since when the pod has had room without each host lent to it (core/spares.py); {} removes it."""
    if state:
        etcd.put_json(f"spares/{pod}", state)
    else:
        etcd.delete(f"spares/{pod}")


def list_spare_states(etcd: Etcd) -> dict[str, dict[str, Any]]:
    return dict(etcd.list("spares/", decode_plain))
