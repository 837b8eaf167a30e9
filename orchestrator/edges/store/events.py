"""Events: what happened, for `cloud status` and the dashboard; bounded in number and size.

An event that describes a change of desired state is written in the very
transaction of that change (``ops``: the store's write methods take
``event=``), so the log never tells of a change that was not made, nor
misses one that was. The controllers' own events (a step, a host that went
down) are written on their own (``record_event``). Each message is at most
``MAX_EVENT_MESSAGE`` characters (``Event.now`` cuts it), and at most
``max_events`` events are kept.
"""
from __future__ import annotations

import secrets
import time
from typing import Any

from etcd3 import etcdrpc

from orchestrator.core.model import Event
from orchestrator.edges.store.etcd import Etcd

MAX_EVENTS = 1000               # events kept; older ones are trimmed


def record_event(etcd: Etcd, max_events: int, kind: str, subject: str, message: str) -> Event:
    """Append an event on its own; keeps at most ``max_events`` (oldest trimmed,
    every ``max_events // 20`` events)."""
    event = Event.now(kind, subject, message)
    key, data = _entry(etcd, event)
    etcd.put_json(key, data)
    written(etcd, max_events)
    return event


def ops(etcd: Etcd, event: Event | None) -> list[Any]:
    """The write of ``event`` for a transaction (none for None); call
    ``written`` once the transaction committed."""
    if event is None:
        return []
    key, data = _entry(etcd, event)
    return [etcd.put_op(key, data)]


def written(etcd: Etcd, max_events: int) -> None:
    """One more event was written: trim the log every ``max_events // 20``."""
    if next(etcd.seq) % max(1, max_events // 20) == 0:
        trim_events(etcd, max_events)


def _entry(etcd: Etcd, event: Event) -> tuple[str, dict[str, Any]]:
    """A fresh key (they sort by time) and the record of ``event``."""
    key = f"events/{time.time_ns():020d}-{secrets.token_hex(4)}"
    return key, event.to_dict()


def trim_events(etcd: Etcd, max_events: int) -> int:
    """Delete the oldest events beyond ``max_events``; returns how many were deleted."""
    count = etcd.range("events/", count_only=True).count
    excess = count - max_events
    if excess <= 0:
        return 0
    # the first key to keep: the (excess+1)-th oldest
    first_kept = etcd.pages("events/", limit=excess + 1, keys_only=True)[-1].key
    start = etcd.key("events/").encode()
    request = etcdrpc.DeleteRangeRequest(key=start, range_end=first_kept)
    return int(etcd.call(etcd.kv.DeleteRange, request).deleted)


def events(etcd: Etcd, limit: int = 50) -> list[Event]:
    """The newest ``limit`` events, newest first (damaged ones skipped)."""
    return etcd.list("events/", lambda d, _rev, _key: Event.from_dict(d), limit=limit, descend=True)
