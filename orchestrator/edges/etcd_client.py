"""One gRPC channel to an etcd cluster, whichever member answers.

python-etcd3 0.12 talks to one ``host:port``. gRPC itself can do better: a
target ``ipv4:A:2379,B:2379,C:2379`` with the ``pick_first`` policy connects
to the first member that answers and, when that connection breaks, to the
next one. Keepalive pings (every ``KEEPALIVE_S``) break a connection to a
member that froze, so calls move on instead of waiting on it.

The manager lists its own member first, so it talks to the etcd beside it
while that one lives. Every member's certificate names ``localhost``
(roles/etcd), which is the name TLS checks whatever address was dialled.

Messages are capped at ``MAX_MESSAGE`` both ways (gRPC's default 4 MiB
receive cap silently becomes the largest list the manager can read; the
store pages its ranges well below it, see the store's ``PAGE``).
"""
from __future__ import annotations

from collections.abc import Sequence

import etcd3

KEEPALIVE_S = 2
"""Seconds between gRPC keepalive pings; a member that does not answer one
within as long is left for the next (etcd: --grpc-keepalive-min-time ≤ this)."""
MAX_MESSAGE = 16 * 1024 * 1024
"""Largest gRPC message either way, bytes."""
TLS_NAME = "localhost"
"""The name every member's server certificate carries (roles/etcd)."""


def parse_endpoints(text: str, default_port: int = 2379) -> list[tuple[str, int]]:
    """``"10.0.0.1:2379,10.0.0.2"`` → [("10.0.0.1", 2379), ("10.0.0.2", 2379)]; ValueError if malformed."""
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        host, sep, port = item.rpartition(":")
        if not sep:
            host, port = item, str(default_port)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"etcd endpoint {item!r} must look like HOST or HOST:PORT")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ValueError("no etcd endpoint given")
    return out


def target(endpoints: Sequence[tuple[str, int]]) -> str:
    """The gRPC target naming every endpoint (one endpoint: plain ``host:port``)."""
    if len(endpoints) == 1:
        host, port = endpoints[0]
        return f"{host}:{port}"
    return "ipv4:" + ",".join(f"{h}:{p}" for h, p in endpoints)


def grpc_options(endpoints: Sequence[tuple[str, int]], tls: bool) -> list[tuple[str, object]]:
    options: list[tuple[str, object]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.keepalive_time_ms", KEEPALIVE_S * 1000),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_S * 1000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
        ("grpc.lb_policy_name", "pick_first"),
    ]
    if tls and len(endpoints) > 1:
        options.append(("grpc.ssl_target_name_override", TLS_NAME))
    return options


def connect(endpoints: Sequence[tuple[str, int]], timeout: float,
            tls: tuple[str, str, str] | None = None) -> etcd3.Etcd3Client:
    """An etcd3 client over one channel to every endpoint (see the module docstring).
    ``tls``: (CA file, client certificate file, client key file) or None."""
    ca, cert, key = tls or (None, None, None)
    whole = target(endpoints)
    # Etcd3Client formats "{host}:{port}": hand it the whole target as host, minus the last port
    host, _, port = whole.rpartition(":")
    return etcd3.client(host=host, port=int(port), timeout=timeout, ca_cert=ca, cert_cert=cert,
                        cert_key=key, grpc_options=grpc_options(endpoints, tls is not None))
