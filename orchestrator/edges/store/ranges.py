"""Lists read in pages, so that no answer nears gRPC's message cap.

A list of every record under a prefix is read ``PAGE`` keys at a time
(``limit``, then the next page from the key after the last one read), every
page at the revision of the first, so the pages together are one consistent
snapshot. A page gRPC or etcd finds too big (records written before the size
limits of docs/api.md) is asked again in halves; when etcd compacted that
revision between two pages, the list starts over.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etcd3 import etcdrpc

from orchestrator.core.errors import Unavailable, ValidationError

if TYPE_CHECKING:
    from orchestrator.edges.store.etcd import Etcd

PAGE = 256
"""Keys per Range request (a record is at most ~12 KiB: a page stays far below the cap)."""
ATTEMPTS = 3
"""Lists started over after a compaction, before the last try's error is let through."""


class Compacted(Unavailable):
    """A paged read asked for a revision etcd has compacted away meanwhile."""


def prefix_end(prefix: bytes) -> bytes:
    """The range end that makes [prefix, end) cover every key starting with prefix."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def request(key: bytes, end: bytes, limit: int, descend: bool, keys_only: bool,
            revision: int = 0, count_only: bool = False) -> Any:
    """One RangeRequest over [key, end), sorted by key."""
    return etcdrpc.RangeRequest(
        key=key, range_end=end, limit=limit, revision=revision,
        sort_order=etcdrpc.RangeRequest.DESCEND if descend else etcdrpc.RangeRequest.ASCEND,
        sort_target=etcdrpc.RangeRequest.KEY, keys_only=keys_only, count_only=count_only)


def pages(etcd: Etcd, rel_prefix: str, limit: int, descend: bool, keys_only: bool) -> list[Any]:
    """Every key-value under ``rel_prefix`` (the first ``limit`` if > 0), in pages of ``etcd.page``."""
    for _ in range(ATTEMPTS - 1):
        try:
            return _pages(etcd, rel_prefix, limit, descend, keys_only)
        except Compacted:
            continue
    return _pages(etcd, rel_prefix, limit, descend, keys_only)


def _pages(etcd: Etcd, rel_prefix: str, limit: int, descend: bool, keys_only: bool) -> list[Any]:
    start = etcd.key(rel_prefix).encode()
    end = prefix_end(start)
    out: list[Any] = []
    revision, page = 0, etcd.page
    while True:
        size = page if not limit else min(page, limit - len(out))
        try:
            answer = etcd.call(etcd.kv.Range, request(start, end, size, descend, keys_only, revision))
        except ValidationError:                    # TooLarge: records bigger than ours
            if page == 1:
                raise
            page = max(1, page // 2)
            continue
        revision = revision or answer.header.revision
        out.extend(answer.kvs)
        if not answer.more or not answer.kvs or (limit and len(out) >= limit):
            return out
        last = answer.kvs[-1].key
        if descend:
            end = last                             # [start, last): the keys below the last one read
        else:
            start = last + b"\0"                   # the first key after the last one read
