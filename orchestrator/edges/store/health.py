"""How etcd itself is doing: its database's size against its quota, its alarms.

etcd refuses every write once its database reaches ``--quota-backend-bytes``
(it raises the NOSPACE alarm and answers "database space exceeded" until an
operator compacts, defragments and disarms it). The manager therefore reads
(``health``): the database size and revision of the member it talks to
(Maintenance.Status), the active alarms of the cluster (Maintenance.Alarm),
and the quota, which etcd 3.4's API does not tell: the setting
``etcd_quota_bytes`` when given, else etcd's own Prometheus gauge
``etcd_server_quota_backend_bytes`` on the member's /metrics (re-read every
``QUOTA_TTL`` seconds; None while it cannot be read).
"""
from __future__ import annotations

import socket
import ssl
import time
from typing import Any

from etcd3 import etcdrpc

from orchestrator.edges.etcd_client import TLS_NAME
from orchestrator.edges.store.etcd import Etcd

QUOTA_TTL = 600.0
QUOTA_METRIC = b"etcd_server_quota_backend_bytes"
ETCD_DEFAULT_QUOTA = 2 * 1024 ** 3
"""What etcd uses without --quota-backend-bytes (2 GiB)."""


class Health:
    """Reads etcd's health (module docstring); one per store."""

    def __init__(self, etcd: Etcd, quota_bytes: int = 0):
        """``quota_bytes``: etcd's quota if known (the setting), 0 to read it from etcd."""
        self.etcd = etcd
        self.quota_bytes = quota_bytes
        self._quota: tuple[float, int | None] | None = None      # (read at, bytes)

    def read(self) -> dict[str, Any]:
        """{db_bytes, quota_bytes (None: unknown), revision, alarms: [names], version}."""
        status = self.etcd.call(self.etcd.maintenance.Status, etcdrpc.StatusRequest())
        answer = self.etcd.call(self.etcd.maintenance.Alarm, etcdrpc.AlarmRequest(
            action=etcdrpc.AlarmRequest.GET, memberID=0, alarm=etcdrpc.NONE))
        alarms = sorted({etcdrpc.AlarmType.Name(a.alarm) for a in answer.alarms if a.alarm != etcdrpc.NONE})
        return {"db_bytes": int(status.dbSize), "quota_bytes": self.quota(), "revision": int(status.header.revision),
                "alarms": alarms, "version": status.version}

    def quota(self) -> int | None:
        if self.quota_bytes:
            return self.quota_bytes
        now = time.monotonic()
        if self._quota is None or now - self._quota[0] > QUOTA_TTL or self._quota[1] is None and \
                now - self._quota[0] > 30:
            self._quota = (now, self._read_quota())
        return self._quota[1]

    def _read_quota(self) -> int | None:
        """etcd's quota from its /metrics (the first member's), or None."""
        host, port = self.etcd.endpoints[0]
        try:
            text = _get_metrics(host, port, self.etcd.tls, min(self.etcd.timeout, 5.0))
        except (OSError, ssl.SSLError, ValueError):
            return None
        for line in text.splitlines():
            if line.startswith(QUOTA_METRIC + b" "):
                try:
                    return int(float(line.split()[1]))
                except (IndexError, ValueError):
                    return None
        return None


def _get_metrics(host: str, port: int, tls: tuple[str, str, str] | None, timeout: float) -> bytes:
    """GET /metrics of one member (HTTP/1.0, with the client certificate under TLS)."""
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        sock: socket.socket = raw
        if tls is not None:
            context = ssl.create_default_context(cafile=tls[0])
            context.load_cert_chain(tls[1], tls[2])
            sock = context.wrap_socket(raw, server_hostname=TLS_NAME)
        sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: " + TLS_NAME.encode() + b"\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    finally:
        raw.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise ValueError(f"etcd's /metrics answered {head[:60]!r}")
    return body
