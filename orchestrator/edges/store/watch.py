"""Waiting for a change of desired state (the controller's wake-up), or of
the leader's published server tables (a follower's load-balancer mirror)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
from etcd3 import etcdrpc

from orchestrator.core.errors import Unavailable
from orchestrator.edges.store.etcd import Etcd
from orchestrator.edges.store.keys import DESIRED_KINDS, LB_KIND
from orchestrator.edges.store.ranges import prefix_end


class Watcher:
    """Reports changes under ``kinds`` (default: pods/, apps/, nodes/, hosts/)
    since it last reported; one kind alone is watched as its own range."""

    def __init__(self, etcd: Etcd, kinds: tuple[str, ...] = DESIRED_KINDS):
        self.etcd = etcd
        self.kinds = kinds
        self._lock = threading.Lock()
        # Revision up to which changes have been reported; starts at "now" so
        # a change made during the controller's first pass still wakes it.
        self.seen_revision: int = etcd.range("pods/", count_only=True).header.revision

    def wait_for_change(self, timeout: float) -> bool:
        """Block until desired state (pods/apps/nodes) changes, or ``timeout`` seconds pass.

        Returns True on a change, False on timeout. Changes made since the
        previous call (or since the Store was created) count too, so a change
        that lands while the caller is busy is never missed. Writes to
        observed/ and events/ do not wake: the controller writes those itself.
        (With ``kinds`` given: a change of those.)

        Each call opens one gRPC watch stream with a deadline and closes it
        before returning, so no thread outlives the call.
        """
        with self._lock:
            key = self.etcd.key(self.kinds[0] if len(self.kinds) == 1 else "").encode()
            create = etcdrpc.WatchCreateRequest(
                key=key, range_end=prefix_end(key), start_revision=self.seen_revision + 1)
            done = threading.Event()

            def requests() -> Iterator[Any]:
                yield etcdrpc.WatchRequest(create_request=create)
                done.wait()           # keep the stream open; etcd ends a half-closed watch

            call = self.etcd.watch_stub.Watch(requests(), timeout=timeout)
            desired = tuple(self.etcd.key(k).encode() for k in self.kinds)
            try:
                for response in call:
                    if response.compact_revision:
                        # We fell behind a compaction: changes may be lost, so report one.
                        self.seen_revision = response.header.revision
                        return True
                    if response.created:
                        self.seen_revision = max(self.seen_revision, response.header.revision)
                    changed = False
                    for event in response.events:
                        self.seen_revision = max(self.seen_revision, event.kv.mod_revision)
                        changed = changed or event.kv.key.startswith(desired)
                    if changed:
                        return True
            except grpc.RpcError as exc:
                # Our deadline, seen by the client or (as UNKNOWN) relayed by etcd.
                if (exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                        or "deadline exceeded" in (exc.details() or "")):
                    return False
                raise Unavailable(f"etcd watch failed ({exc.code().name}); check that etcd runs") from exc
            finally:
                done.set()
                call.cancel()
            return False


def lb_watcher(etcd: Etcd) -> Watcher:
    """A watcher of the published server tables (``lb/``) alone."""
    return Watcher(etcd, (LB_KIND,))
