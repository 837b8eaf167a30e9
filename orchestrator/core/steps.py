"""The steps a plan is made of (core/plan.py), and what each one says in a log line.

A reconciler (control/reconciler.py) carries them out: containers on a pod
host (create, start, stop, remove) and servers in HAProxy (add, set state,
delete). Each is a frozen value with no I/O; ``describe`` is the text of the
logs and events.
"""
from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core.naming import container_name, server_name


@dataclass(frozen=True)
class SetServerState:
    backend: str
    server: str
    admin: str           # ready | drain | maint (maint waits for the server to be idle)


@dataclass(frozen=True)
class DelServer:
    """Drained at once (no new requests), then deleted once its requests are
    done (a dead worker's are cut once its checks fail, a hung worker's after
    a short wait)."""

    backend: str
    server: str


@dataclass(frozen=True)
class StopContainer:
    pod: str             # the pod it belongs to (for messages)
    name: str


@dataclass(frozen=True)
class FreezeContainer:
    """``docker pause`` a warm node's container (its app is at zero; its server
    in maint first), or ``docker unpause`` it (``frozen`` False: promoted)."""

    pod: str
    name: str
    frozen: bool = True


@dataclass(frozen=True)
class RemoveContainer:
    pod: str
    name: str
    reason: str = ""


@dataclass(frozen=True)
class CreateContainer:
    pod: str
    node: str
    app: str
    gen: str

    @property
    def name(self) -> str:
        return container_name(self.pod, self.node, self.gen)


@dataclass(frozen=True)
class StartContainer:
    pod: str
    name: str


@dataclass(frozen=True)
class AddServer:
    backend: str
    node: str
    container: str       # the container it points at (name)
    port: int
    admin: str = "ready"  # state it enters service in (PAUSED nodes come back in maint)
    addr: str | None = None   # None: the address the container got when started in this chain
    cid: str | None = None    # its id; None: the id of the container started in this chain

    @property
    def server(self) -> str | None:
        return server_name(self.node, self.cid) if self.cid else None


Action = (SetServerState | DelServer | StopContainer | RemoveContainer | CreateContainer
          | StartContainer | AddServer | FreezeContainer)


def describe(action: Action) -> str:
    """One line for logs and events, e.g. "add server app_web/n1.ab12cd34 at 10.0.0.2:80"."""
    match action:
        case SetServerState(backend, server, admin):
            return f"set server {backend}/{server} {admin}"
        case DelServer(backend, server):
            return f"delete server {backend}/{server}"
        case StopContainer(_, name):
            return f"stop container {name}"
        case FreezeContainer(_, name, frozen):
            return f"pause container {name} (a warm node of an app at zero)" if frozen else \
                f"unpause container {name}"
        case RemoveContainer(_, name, reason):
            return f"remove container {name}" + (f" ({reason})" if reason else "")
        case CreateContainer(_, _, app, _):
            return f"create container {action.name} for app {app}"
        case StartContainer(_, name):
            return f"start container {name}"
        case AddServer(backend, node, container, port, admin, addr, _):
            where = f"{addr}:{port}" if addr else f"{container}:{port}"
            return (f"add server {backend}/{action.server or node + '.<new>'} at {where}"
                    + (f" ({admin})" if admin != "ready" else ""))
    return repr(action)


@dataclass(frozen=True)
class Note:
    """Something the plan saw that deserves an event of its own."""

    kind: str            # node.failed | node.backoff
    subject: str         # "<pod>/<node>"
    message: str
