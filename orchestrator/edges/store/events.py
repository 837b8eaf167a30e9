"""Events: what happened, for `cloud status` and the dashboard; bounded in number."""
from __future__ import annotations

import secrets
import time

from etcd3 import etcdrpc

from orchestrator.core.model import Event
from orchestrator.edges.store.etcd import Etcd

MAX_EVENTS = 1000               # events kept; older ones are trimmed


def record_event(etcd: Etcd, max_events: int, kind: str, subject: str, message: str) -> Event:
    """Append an event; keeps at most ``max_events`` (oldest trimmed, every
    ``max_events // 20`` events)."""
    event = Event(time=time.time(), kind=kind, subject=subject, message=message)
    seq = next(etcd.seq)
    key = f"events/{time.time_ns():020d}-{seq % 1_000_000:06d}{secrets.token_hex(2)}"
    etcd.put_json(key, event.to_dict())
    if seq % max(1, max_events // 20) == 0:
        trim_events(etcd, max_events)
    return event


def trim_events(etcd: Etcd, max_events: int) -> int:
    """Delete the oldest events beyond ``max_events``; returns how many were deleted."""
    count = etcd.range("events/", count_only=True).count
    excess = count - max_events
    if excess <= 0:
        return 0
    # the first key to keep: the (excess+1)-th oldest
    first_kept = etcd.range("events/", limit=excess + 1, keys_only=True).kvs[-1].key
    start = etcd.key("events/").encode()
    request = etcdrpc.DeleteRangeRequest(key=start, range_end=first_kept)
    return int(etcd.call(etcd.kv.DeleteRange, request).deleted)


def events(etcd: Etcd, limit: int = 50) -> list[Event]:
    """The newest ``limit`` events, newest first (damaged ones skipped)."""
    return etcd.list("events/", lambda d, _rev, _key: Event.from_dict(d), limit=limit, descend=True)
