"""Carrying out the HAProxy steps of a plan (core/steps.py) on one HAProxy.

Shared by the reconcilers (the leader's HAProxy, as they start and retire
workers) and the load balancer's mirror (every other manager's HAProxy, as
the leader's table changes), so a server is drained, deleted and added the
same way on every manager.
"""
from __future__ import annotations

from orchestrator.core.naming import server_name
from orchestrator.core.steps import Action, AddServer, DelServer, SetServerState
from orchestrator.edges.protocols import HAProxyProtocol

DRAIN_WAIT = 2.0           # seconds a draining server may finish its requests


def run_haproxy_step(haproxy: HAProxyProtocol, action: Action) -> None:
    """One server step. An ``AddServer`` must know its address and container id."""
    match action:
        case SetServerState(backend, server, admin):
            if admin == "maint":
                haproxy.wait_idle(backend, server, DRAIN_WAIT)
            haproxy.set_state(backend, server, admin)
        case DelServer(backend, server):
            # drained at once; its requests finish, or (a dead worker's, once its
            # checks fail) are cut and retried elsewhere; what is left after the wait is cut
            haproxy.del_server(backend, server, wait=DRAIN_WAIT)
        case AddServer(backend, node, _, port, admin, addr, cid) if addr and cid:
            haproxy.add_server(backend, server_name(node, cid), addr, port, admin=admin)
        case _:
            raise TypeError(f"not a complete HAProxy step: {action!r}")
