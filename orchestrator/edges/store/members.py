"""The etcd cluster's members and the health of each, for ``cloud manager ls``.

One ``MemberList`` on the store's channel, then one ``Status`` on each
member's own client URL (a short-lived connection, short deadline, side by
side): a member that is down answers nothing, and is shown unhealthy.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import etcd3
from etcd3 import etcdrpc

from orchestrator.edges.store.etcd import Etcd

STATUS_TIMEOUT = 1.0


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


def _status(urls: list[str], tls: tuple[str, str, str] | None) -> Any:
    for url in urls:
        parsed = urlparse(url)
        if not parsed.hostname or not parsed.port:
            continue
        ca, cert, key = tls or (None, None, None)
        client = etcd3.client(host=parsed.hostname, port=parsed.port, timeout=STATUS_TIMEOUT,
                              ca_cert=ca, cert_cert=cert, cert_key=key)
        try:
            return etcdrpc.MaintenanceStub(client.channel).Status(etcdrpc.StatusRequest(), STATUS_TIMEOUT)
        except Exception:  # noqa: BLE001 - any failure means: this member does not answer now
            continue
        finally:
            client.close()
    return None
