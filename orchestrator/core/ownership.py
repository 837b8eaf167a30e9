"""Which host's business a container or an HAProxy server is (pure).

Several hosts may share one Docker engine (tests, a one-machine cluster), so
a host's reconciler looks only at the containers made for it: those labelled
with its name (``simplecloud.host``), and those without a label (made before
pools) of a pod it is a host of; a container of a pod that no longer exists
is an orphan any host may remove.

Servers belong to the host of their container. A server of an app of host
X's pods that points at none of X's containers is deleted by X if its node
is placed on X and never moved, or moved from a host that is lost, or its
health check fails (the old host of a drained node drains its own server);
a server of a node that no longer exists only if its check fails, or if X is
its pod's only host.
"""
from __future__ import annotations

from collections.abc import Mapping

from orchestrator.core.model import App, Container, Node, Pod, Server
from orchestrator.core.naming import parse_server_name


def made_for(c: Container, host: str | None, pods: Mapping[str, Pod]) -> bool:
    """Whether container ``c`` seen on the engine is ``host``'s business (engines may be shared)."""
    if host is None or c.host == host:
        return True
    if c.host:
        return False
    pod = pods.get(c.pod)                   # made before pools: its pod's host, or an orphan anyone removes
    return pod is None or host in pod.hosts


def stale_server(server: Server, app: App, known: Mapping[tuple[str, str], Node], host: str | None,
                 pods: Mapping[str, Pod], lost: set[str]) -> bool:
    """Whether host ``host`` deletes a server of ``app`` that points at none of its containers."""
    if host is None:
        return True
    node = known.get((app.pod, parse_server_name(server.name)[0]))
    if node is not None and node.app == app.name:
        if node.host != host:
            return False                        # another host's (or one not placed yet)
        return not node.moved_from or node.moved_from in lost or server.healthy is False
    return server.healthy is False or pods[app.pod].hosts == (host,)
