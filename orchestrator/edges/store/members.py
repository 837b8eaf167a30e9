"""The etcd cluster's members and the health of each, for ``cloud manager ls``;
and handing etcd's leadership away from a machine (``move_leader``).

One ``MemberList`` on the store's channel, then one ``Status`` on each
member's own client URL (a short-lived connection, short deadline, side by
side): a member that is down answers nothing, and is shown unhealthy.

Why move etcd's leader: when simplecloud's leader and etcd's leader share a
machine and it dies, takeover waits for etcd's election *and* a whole lease
TTL, because a new etcd leader restarts every lease (etcd issues 9395,
13294). With etcd's leader on another machine, one machine's loss costs
either a simplecloud takeover or an etcd election, never both
(docs/decisions.md, "HA").
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import etcd3
import grpc
from etcd3 import etcdrpc

from orchestrator.core import errors
from orchestrator.edges.store.etcd import Etcd

STATUS_TIMEOUT = 1.0
MOVE_TIMEOUT = 5.0        # etcd waits for the target to catch up before it hands over


def members(etcd: Etcd, tls: tuple[str, str, str] | None) -> list[dict[str, Any]]:
    """Each member: name, id (hex), client URLs, and from its own answer:
    healthy, leader (is it the etcd leader), db_size_bytes, raft_term."""
    listing = etcd.call(etcdrpc.ClusterStub(etcd.client.channel).MemberList, etcdrpc.MemberListRequest())
    found = [{"name": m.name, "id": f"{m.ID:x}", "client_urls": list(m.clientURLs)} for m in listing.members]
    with ThreadPoolExecutor(max_workers=max(1, len(found))) as pool:
        statuses = list(pool.map(lambda m: _status(m["client_urls"], tls), found))
    for member, status in zip(found, statuses, strict=True):
        member.update(healthy=status is not None,
                      leader=status is not None and f"{status.leader:x}" == member["id"],
                      db_size_bytes=status.dbSize if status is not None else None,
                      raft_term=status.raftTerm if status is not None else None)
    return found


def move_leader(etcd: Etcd, tls: tuple[str, str, str] | None, away_from: str) -> str | None:
    """If etcd's leader is the member named ``away_from``, hand its leadership
    to a healthy other member (etcd's MoveLeader, which only the leader
    takes). The new leader's name; None when etcd's leader is elsewhere,
    unknown, or no other member is healthy. etcd's error if the move fails."""
    found = members(etcd, tls)
    leader = next((m for m in found if m["leader"]), None)
    if leader is None or leader["name"] != away_from:
        return None
    target = next((m for m in sorted(found, key=lambda m: m["name"]) if m["healthy"] and not m["leader"]), None)
    if target is None:
        return None
    request = etcdrpc.MoveLeaderRequest(targetID=int(target["id"], 16))
    try:
        answer = _on_member(leader["client_urls"], tls, lambda stub: stub.MoveLeader(request, MOVE_TIMEOUT),
                            quiet=False)
    except grpc.RpcError as exc:
        raise errors.Unavailable(f"etcd did not move its leader from {away_from} to {target['name']}: "
                                 f"{exc.details() or exc.code().name}") from exc
    return target["name"] if answer is not None else None


def _status(urls: list[str], tls: tuple[str, str, str] | None) -> Any:
    return _on_member(urls, tls, lambda stub: stub.Status(etcdrpc.StatusRequest(), STATUS_TIMEOUT))


def _on_member(urls: list[str], tls: tuple[str, str, str] | None, call: Callable[[Any], Any],
               quiet: bool = True) -> Any:
    """``call(MaintenanceStub)`` on the first of a member's client URLs that
    answers; None if none does (``quiet``) or the last error (not quiet)."""
    error: Exception | None = None
    for url in urls:
        parsed = urlparse(url)
        if not parsed.hostname or not parsed.port:
            continue
        ca, cert, key = tls or (None, None, None)
        client = etcd3.client(host=parsed.hostname, port=parsed.port, timeout=STATUS_TIMEOUT,
                              ca_cert=ca, cert_cert=cert, cert_key=key)
        try:
            return call(etcdrpc.MaintenanceStub(client.channel))
        except Exception as exc:  # noqa: BLE001 - any failure means: this member does not answer now
            error = exc
            continue
        finally:
            client.close()
    if error is not None and not quiet:
        raise error
    return None
