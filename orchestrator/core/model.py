"""The resource model: pods, apps, nodes, events, and the observed-state types.

Plain, immutable dataclasses with no I/O. Each desired-state type has
`to_dict()` / `from_dict()` so it round-trips through JSON in etcd unchanged.
To change a value, make a new one: `dataclasses.replace(node, status=...)`.

- A **Host** is a machine with a Docker engine that runs workers: its
  capacity (node slots, CPUs, MiB) is shared by every pod that has it; a host
  in no pod is a *spare*.
- A **Pod** is a pool of capacity over one or more hosts: at most `max_nodes`
  of its nodes on each of its `hosts`, each node limited to `cpus` CPUs and
  `memory_mb` MiB (its *node size*: what a node takes of its host).
- An **App** is what runs on nodes: an `image`, or a `command` (argument list,
  no shell) run in `DEFAULT_COMMAND_IMAGE`; reachable through HAProxy by its
  `path` prefix and/or `host` header, balanced with `balance`.
- A **Node** is one worker container of an app in a pod, placed on one of the
  pod's hosts (`host`; core/placement.py chooses). Its `status` is the
  desired state the controller drives the container and HAProxy towards.
  `revision` is the etcd mod_revision the record was read at (not stored in
  the JSON); `Store.update_node` uses it for compare-and-swap. An App read
  from the store carries its `revision` too (`put_app` compares it) and its
  `created_revision` (which incarnation of the name it is). A node with
  `warm` set is in its app's *warm pool*: its container runs and is
  health-checked, its server is in HAProxy in state ``drain`` (no requests);
  it counts against capacity but not among the app's replicas (`App.warm`:
  how many such nodes the app keeps; core/scaling.py).

The names of containers, servers and backends are core/naming.py's.

`from_dict` ignores keys it does not know, so records written by a newer
version still load; user input is checked strictly by `validate.py` instead.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import time
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_COMMAND_IMAGE = "debian:bookworm-slim"
"""Image that runs apps given as a plain command (e.g. ["nc", "-lk", "-p", "9000"])."""

BALANCE_ALGORITHMS = ("roundrobin", "leastconn", "random", "first", "source")
"""HAProxy `balance` algorithms an app may choose."""

DEFAULT_JOB_IMAGE_PREFIX = "simplecloud/"


class NodeStatus(enum.StrEnum):
    """Desired status of a node (see docs/orchestrator.md for what each means).

    NEW → ONLINE ⇄ PAUSED; REMOVED on the way out. What really happens to a
    node (serving, crashed, backing off, unreachable...) is *observed* state,
    kept apart in ``observed/<pod>/<node>``; FAILED is only read from records
    written by older versions and is treated as ONLINE.
    """

    NEW = "NEW"
    ONLINE = "ONLINE"
    PAUSED = "PAUSED"
    FAILED = "FAILED"
    REMOVED = "REMOVED"


class RecordError(ValueError):
    """A stored record does not fit the model (missing field, wrong type)."""


def record_fields(cls: type, data: Any) -> dict[str, Any]:
    """The keys of ``data`` that are fields of dataclass ``cls``, each checked
    against the field's type; RecordError names the first that does not fit.

    Records in etcd are written by this code, so a misfit means the record was
    damaged or written by hand: the store skips it and reports it instead of
    letting a TypeError surface far away (in a list call or a reconcile pass).
    """
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    hints = _hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"field {f.name!r} is missing")
            continue
        if not _fits(data[f.name], hints[f.name]):
            raise RecordError(f"field {f.name!r} is {data[f.name]!r}, not {_type_text(hints[f.name])}")
        out[f.name] = data[f.name]
    return out


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value can stand for a field of type ``hint``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) is tuple:       # tuple[str, ...]: a JSON list of strings
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    if isinstance(value, bool):                 # JSON true/false is no number
        return hint is bool
    if hint is float:
        return isinstance(value, (int, float))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value in {m.value for m in hint}
    return isinstance(value, hint)


def _type_text(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)


@dataclass(frozen=True)
class Host:
    """A machine that runs workers, as the inventory describes it (``hosts/<name>``)."""

    name: str                 # inventory host name, e.g. "pod-light-1"
    nodes: int                # node slots, shared by every pod on the host
    cpus: float               # CPUs the workers may take together
    memory_mb: int            # MiB the workers may take together
    address: str = ""         # where the manager reaches it (the lab address)
    subnet: str = ""          # its worker subnet (host-gw routes on every machine)
    draining: bool = False    # its nodes move away and it takes no new ones

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "subnet": self.subnet,
                "capacity": {"nodes": self.nodes, "cpus": self.cpus, "memory_mb": self.memory_mb},
                "draining": self.draining}

    @classmethod
    def from_dict(cls, data: Any) -> Host:
        if not isinstance(data, dict) or not isinstance(data.get("capacity"), dict):
            raise RecordError("a host record needs a JSON object 'capacity' {nodes, cpus, memory_mb}")
        flat = {k: v for k, v in data.items() if k != "capacity"}
        d = record_fields(cls, {**flat, **data["capacity"]})
        d["cpus"] = float(d["cpus"])
        return cls(**d)


@dataclass(frozen=True)
class Pod:
    name: str
    hosts: tuple[str, ...]    # inventory names of its hosts, e.g. ("pod-light-1", "pod-light-2")
    max_nodes: int            # capacity: nodes of this pod allowed on each of its hosts
    cpus: float               # CPU limit per node
    memory_mb: int            # memory limit per node, MiB
    app: str | None = None    # default app for `cloud register NODE POD`
    lent: tuple[str, ...] = ()   # hosts the autoscaler added (it gives them back)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hosts": list(self.hosts), "lent": list(self.lent)}

    @classmethod
    def from_dict(cls, data: Any) -> Pod:
        if isinstance(data, dict) and "hosts" not in data and isinstance(data.get("host"), str):
            data = {**data, "hosts": [data["host"]]}       # a record of a version before pools
        d = record_fields(cls, data)
        d["cpus"] = float(d["cpus"])
        d["hosts"] = tuple(d["hosts"])
        d["lent"] = tuple(d.get("lent", ()))
        return cls(**d)


@dataclass(frozen=True)
class App:
    name: str
    pod: str                          # the pod its nodes run in
    port: int                         # port the workers listen on
    image: str | None = None          # exactly one of image / command
    command: tuple[str, ...] | None = None
    path: str | None = None           # HAProxy path prefix, e.g. "/light"
    host: str | None = None           # HAProxy Host header match
    balance: str = "roundrobin"
    health_path: str = ""             # HTTP check path; "" means a TCP check
    strip_path: bool = False          # remove the path prefix before forwarding
    cpus: float | None = None         # CPU limit per node; None: the pod's node size
    memory_mb: int | None = None      # memory limit per node, MiB; None: the pod's
    created: float = field(default_factory=time.time)
    security: str = "default"         # "relaxed": Docker's default capabilities (see worker_security)
    warm: int = 0                     # nodes kept started and healthy but taking no requests
    revision: int = field(default=0, compare=False)          # etcd mod_revision; not stored
    created_revision: int = field(default=0, compare=False)  # etcd create_revision; not stored

    @property
    def run_image(self) -> str:
        """The image the worker containers run."""
        return self.image or DEFAULT_COMMAND_IMAGE

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["command"] = list(self.command) if self.command is not None else None
        del d["revision"], d["created_revision"]
        return d

    @classmethod
    def from_dict(cls, data: Any, revision: int = 0, created_revision: int = 0) -> App:
        d = record_fields(cls, {k: v for k, v in data.items() if k not in ("revision", "created_revision")}
                          if isinstance(data, dict) else data)
        if d.get("command") is not None:
            d["command"] = tuple(d["command"])
        return cls(**d, revision=revision, created_revision=created_revision)

    def limits(self, pod: Pod) -> tuple[float, int]:
        """(CPUs, MiB) of each of this app's workers: its own, else the pod's."""
        return (self.cpus if self.cpus is not None else pod.cpus,
                self.memory_mb if self.memory_mb is not None else pod.memory_mb)


RUN_FIELDS = ("image", "command", "port", "cpus", "memory_mb", "security")
"""What a worker container is made from; a change in any of them (or in the
pod's node size) replaces the containers, one node at a time."""


def run_spec(app: App, pod: Pod) -> dict[str, Any]:
    """Everything a worker container of ``app`` in ``pod`` is created from."""
    cpus, memory_mb = app.limits(pod)
    return {"image": app.run_image, "command": list(app.command) if app.command is not None else None,
            "port": app.port, "cpus": cpus, "memory_mb": memory_mb, "security": app.security}


def spec_generation(app: App, pod: Pod) -> str:
    """Short hash of ``run_spec``: the *generation* a container carries in its
    name and its ``simplecloud.gen`` label. A container of another generation
    was made from a spec that has since changed, so it is replaced."""
    text = json.dumps(run_spec(app, pod), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


KEPT_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "NET_BIND_SERVICE", "KILL")
"""The capabilities a hardened worker keeps: enough for common images (nginx
changes the user and owner of its cache, binds port 80). Of Docker's default
set this leaves out AUDIT_WRITE, FSETID, MKNOD, NET_RAW, SETFCAP, SETPCAP and
SYS_CHROOT."""


def worker_security(security: str, pids_limit: int) -> dict[str, Any]:
    """Docker HostConfig hardening of a worker (``create_host_config`` keywords).

    Always a pids limit (a fork bomb stays inside its worker); unless
    ``security`` is "relaxed", also no-new-privileges (setuid binaries gain
    nothing) and every capability dropped but KEPT_CAPABILITIES."""
    if security == "relaxed":
        return {"pids_limit": pids_limit}
    return {"pids_limit": pids_limit, "security_opt": ["no-new-privileges:true"],
            "cap_drop": ["ALL"], "cap_add": list(KEPT_CAPABILITIES)}


@dataclass(frozen=True)
class Node:
    name: str
    pod: str
    app: str
    status: NodeStatus = NodeStatus.NEW
    created: float = field(default_factory=time.time)   # orders "first NEW node"
    host: str = ""            # the host it runs on ("": never placed)
    moved_from: str = ""      # the host it ran on before its last move ("": never moved)
    pending: str = ""         # why it waits for room on another host ("": it does not)
    warm: bool = False        # in the app's warm pool: started and checked, taking no requests
    revision: int = field(default=0, compare=False)     # etcd mod_revision; not stored

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pod": self.pod, "app": self.app,
                "status": str(self.status), "created": self.created, "host": self.host,
                "moved_from": self.moved_from, "pending": self.pending, "warm": self.warm}

    @classmethod
    def from_dict(cls, data: Any, revision: int = 0) -> Node:
        d = record_fields(cls, {k: v for k, v in data.items() if k != "revision"}
                   if isinstance(data, dict) else data)
        d["status"] = NodeStatus(d.get("status", "NEW"))
        return cls(**d, revision=revision)


MAX_EVENT_MESSAGE = 2048
"""Characters of an event's message (its subject: MAX_EVENT_SUBJECT); a longer
one is cut and ends in "…" (docs/api.md)."""
MAX_EVENT_SUBJECT = 256


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one "…" if it was cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class Event:
    """Something that happened, kept in etcd for `cloud status` and the dashboard."""

    time: float
    kind: str        # e.g. "node.registered", "app.scaled"
    subject: str     # e.g. "light/n1", "app/web"
    message: str

    @classmethod
    def now(cls, kind: str, subject: str, message: str) -> Event:
        """An event happening now, its subject and message cut to their limits."""
        return cls(time.time(), clip(kind, 64), clip(subject, MAX_EVENT_SUBJECT), clip(message, MAX_EVENT_MESSAGE))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Event:
        return cls(**record_fields(cls, data))


# --- observed state (returned by hosts.py and haproxy.py, consumed by plan.py) ---

@dataclass(frozen=True)
class Container:
    name: str              # docker container name, sc-<pod>.<node>.<gen>
    pod: str
    node: str
    app: str
    state: str             # docker state: created|running|paused|exited|dead|restarting
    ip: str | None         # address on the pod network, None if not running
    image: str
    gen: str = ""          # spec generation it was made from (label simplecloud.gen)
    id: str = ""           # docker's container id
    created: float = 0.0   # Unix time docker created it
    exit_code: int | None = None   # of an exited container
    epoch: int = 0         # the leader's epoch that created it (label simplecloud.epoch; 0: none)
    host: str = ""         # the host it was made for (label simplecloud.host; "": before pools)


def current_container(containers: Iterable[Container], gen: str) -> Container | None:
    """The container of generation ``gen`` that a node keeps: the one made by
    the newest leader (highest epoch), then the newest. Two can exist when a
    deposed leader finished a create it had begun before it stopped acting."""
    mine = [c for c in containers if c.gen == gen]
    return max(mine, key=lambda c: (c.epoch, c.created, c.name)) if mine else None


@dataclass(frozen=True)
class Server:
    backend: str           # app_<name>
    name: str              # <node>.<container id>, see server_name()
    addr: str
    port: int
    admin: str             # "ready" | "drain" | "maint"
    healthy: bool | None   # last health check result, None if no check
    checks: bool = True    # health checks configured and enabled (False: a half-added server)


# --- built-in pods and job apps (created by `cloud init`) ---

BUILTIN_PODS: dict[str, Pod] = {
    "light": Pod("light", ("pod-light",), 20, 0.25, 128, app="light"),
    "medium": Pod("medium", ("pod-medium",), 15, 0.5, 256, app="medium"),
    "heavy": Pod("heavy", ("pod-heavy",), 10, 1.0, 512, app="heavy"),
}
"""The built-in pods on their default hosts; ``cloud init`` puts them on the hosts of
the setting ``pods_hosts`` instead when it names them."""

DEFAULT_HOSTS: dict[str, Host] = {
    p.hosts[0]: Host(p.hosts[0], p.max_nodes, round(p.max_nodes * p.cpus, 6), p.max_nodes * p.memory_mb)
    for p in BUILTIN_PODS.values()
}
"""The built-in pods' default hosts, each exactly the size of its pod (a lone
manager with no ``pod_hosts`` setting works as before pools)."""


def builtin_apps(job_image_prefix: str = DEFAULT_JOB_IMAGE_PREFIX) -> dict[str, App]:
    """The three job apps, with images under `job_image_prefix` (e.g. "manager:5050/simplecloud/")."""
    return {
        job: App(name=job, pod=job, port=8000, image=f"{job_image_prefix}{job}",
                 path=f"/{job}", balance="roundrobin", health_path="/health", created=0.0)
        for job in BUILTIN_PODS
    }


BUILTIN_APPS: dict[str, App] = builtin_apps()
"""The job apps with the default image prefix; use builtin_apps(prefix) for another registry."""
