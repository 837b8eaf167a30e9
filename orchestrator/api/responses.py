"""The shapes of the API's answers, as pydantic models named like their
components in the OpenAPI document (api/openapi.py generates it from these,
the request models of core/schema.py and the routes).

They describe the JSON the use cases' views give (core/views.py); the API
does not build its answers through them. Fields without a default are
always there; the others are there in some answers only (their description
says which).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from orchestrator.core.fields import SECURITY_PROFILES
from orchestrator.core.model import BALANCE_ALGORITHMS


class Answer(BaseModel):
    """An answer of the API: more fields may come in later versions."""

    model_config = ConfigDict(extra="allow")


class Error(Answer):
    error: str = Field(examples=["pod 'light' is full: 20 of 20 nodes"])
    field: str | None = Field(None, examples=["replicas"])


class Names(RootModel[list[str]]):
    pass


class PodsAndApps(Answer):
    pods: Names | None = None
    apps: Names | None = None


class StatusCounts(RootModel[dict[str, int]]):
    """Number of nodes per status, e.g. {"ONLINE": 3, "NEW": 1}"""


class HostState(Answer):
    """Reachability of a host through its SSH link (null before the leader's first look)."""

    reachable: bool | None = None
    since: float | None = Field(None, description="Unix time it became reachable / unreachable")
    error: str | None = Field(None, description="why it is unreachable")
    rtt_ms: float | None = Field(None, description="last ping of its Docker engine over the link")


class Pod(Answer):
    name: str = Field(examples=["light"])
    hosts: list[str] = Field(examples=[["pod-light-1", "pod-light-2"]], description="inventory names of its hosts")
    max_nodes: int = Field(examples=[20], description="nodes of this pod allowed on each of its hosts")
    cpus: float = Field(examples=[0.25], description="CPU limit per node")
    memory_mb: int = Field(examples=[128], description="memory limit per node, MiB")
    app: str | None = Field(None, description="default app for `cloud register NODE POD`")
    lent: list[str] | None = Field(None, description="hosts the autoscaler added to the pod (it gives them back)")
    used: int | None = Field(None, description="node records in the pod (listings only)")
    capacity: int | None = Field(None, description="nodes its hosts could hold, each host's own limits "
                                                   "counted (listings only)")
    free: int | None = Field(None, description="how many more nodes fit now on its hosts that answer and "
                                               "are not draining (listings only)")
    pending: int | None = Field(None, description="its nodes waiting for room (listings only)")
    statuses: StatusCounts | None = None
    phases: StatusCounts | None = None
    host_states: dict[str, HostState | None] | None = Field(None, description="each host's link (listings only)")


class Resources(Answer):
    nodes: int = Field(examples=[20])
    cpus: float = Field(examples=[5.0])
    memory_mb: int = Field(examples=[2560])


class Host(Answer):
    """A host that runs workers: a pod's, or a spare (in no pod)."""

    name: str = Field(examples=["pod-light-1"])
    address: str | None = Field(None, examples=["192.168.56.11"])
    subnet: str | None = Field(None, examples=["10.42.1.0/24"], description="its worker subnet")
    capacity: Resources = Field(description="node slots, CPUs and MiB, shared by every pod on the host")
    draining: bool = Field(description="its nodes move away; nothing new is placed on it")
    pods: list[str] = Field(examples=[["light"]], description="the pods it is a host of")
    lent_to: list[str] | None = Field(None, description="the pods the autoscaler lent it to")
    spare: bool | None = Field(None, description="in no pod")
    used: Resources | None = Field(None, description="what the nodes placed on it take (their pods' node sizes)")
    nodes: int | None = Field(None, description="nodes placed on it, all pods")
    nodes_by_pod: StatusCounts | None = None
    pending: int | None = Field(None, description="its nodes waiting for room elsewhere")
    link: HostState | None = None
    cpu_used: float | None = Field(None, description="CPUs its serving workers used over the last 10 s "
                                                     "(the sampler's cgroup readings; null: not sampled)")
    cpu_percent: float | None = Field(None, description="cpu_used, % of its CPU capacity")


class Observed(Answer):
    """What the controller last saw of a node (null before its first look)."""

    phase: Literal["serving", "warm", "starting", "unhealthy", "backoff", "stopped", "paused",
                   "unreachable"] | None = None
    container: str | None = Field(None, description="docker state of its current container")
    gen: str | None = Field(None, description="generation (spec hash) its container should have")
    ip: str | None = None
    host: str | None = None
    server: Literal["ready", "drain", "maint"] | None = None
    healthy: bool | None = Field(None, description="HAProxy's health check (null: no check yet)")
    restarts: int | None = Field(None, description="failed workers replaced so far")
    last_error: str | None = None
    retry_at: float | None = Field(None, description="back-off: the next replacement (Unix time)")
    updating: bool | None = Field(None, description="a container of an older spec still runs")
    since: float | None = Field(None, description="Unix time the phase began")
    time: float | None = Field(None, description="Unix time of this record")
    host_error: str | None = Field(None, description="why the host is unreachable")


class Node(Answer):
    name: str = Field(examples=["n1"])
    pod: str
    app: str
    status: Literal["NEW", "ONLINE", "PAUSED", "FAILED", "REMOVED"] = Field(description="desired status")
    created: float | None = Field(None, description="Unix time")
    host: str | None = Field(None, examples=["pod-light-1"], description="the host it is placed on")
    moved_from: str | None = Field(None, description="the host it ran on before its last move")
    pending: str | None = Field(None, description="why it waits for room on another host (empty: it does not)")
    warm: bool | None = Field(None, description="in its app's warm pool: started and checked, taking no requests")
    observed: Observed | None = None


class Decision(Answer):
    """the last decision (null before the first)"""

    time: float | None = None
    replicas: int | None = None
    current: int | None = None
    reason: str | None = Field(None, examples=["3 → 6: 41.2 req/s per node > target 20 (×2.06)"])
    metrics: dict[str, list[float | None]] | None = Field(None, description="metric → [value, target]")


class AutoscaleView(Answer):
    """its autoscale policy and the autoscaler's last decision (null if not autoscaled)"""

    policy: dict[str, object] | None = Field(None, description="the policy as set (see Autoscale)")
    summary: str | None = Field(None, examples=["2..10, rps 20/node"])
    last: Decision | None = None


class App(Answer):
    name: str = Field(examples=["web"])
    pod: str
    port: int
    image: str | None = None
    command: list[str] | None = None
    path: str | None = Field(None, examples=["/web"])
    host: str | None = Field(None, examples=["web.example"])
    balance: Literal[BALANCE_ALGORITHMS] | None = None  # type: ignore[valid-type]  # a tuple of literals
    health_path: str | None = Field(None, description="HTTP check path; empty means a TCP check")
    strip_path: bool | None = Field(None, description="the path prefix is removed before forwarding")
    cpus: float | None = Field(None, description="CPU limit per node (null: the pod's)")
    memory_mb: int | None = Field(None, description="MiB per node (null: the pod's)")
    security: Literal[SECURITY_PROFILES] | None = Field(  # type: ignore[valid-type]  # a tuple of literals
        None, description="worker hardening profile")
    warm: int | None = Field(None, description="warm nodes it keeps (its warm pool's size)")
    created: float | None = None
    replicas: int | None = Field(None, description="number of its nodes that are not REMOVED nor warm")
    warm_nodes: int | None = Field(None, description="its warm nodes now")
    warm_ready: int | None = Field(None, description="its warm nodes seen started and healthy")
    statuses: StatusCounts | None = None
    phases: StatusCounts | None = None
    serving: int | None = Field(None, description="its nodes that serve through HAProxy")
    updating: int | None = Field(None, description="its nodes still running a container of an older spec")
    autoscale: AutoscaleView | None = None
    note: str | None = Field(None, description="why a manual scale was clamped to the autoscale range (PUT scale only)")
    changed: list[str] | None = Field(None, description="the fields an update changed (PATCH only)")
    nodes: list[Node] | None = Field(None, description="its nodes (single-app answers only)")
    removed: list[Node] | None = Field(None, description="the nodes a stop removed (DELETE only)")


class Event(Answer):
    time: float | None = None
    kind: str | None = Field(None, examples=["node.registered"])
    subject: str | None = Field(None, examples=["light/n1"])
    message: str | None = None


class EtcdHealth(Answer):
    """etcd itself: the database of the member the manager talks to, against the quota."""

    db_bytes: int | None = Field(None, description="size of the database file")
    quota_bytes: int | None = Field(None, description="etcd's --quota-backend-bytes (null: unknown)")
    revision: int | None = Field(None, description="etcd's current revision")
    alarms: list[str] | None = Field(None, description="active alarms, e.g. NOSPACE")
    version: str | None = None


class Status(Answer):
    leader: Leader | None = Field(None, description="the manager that acts now (null: none right now)")
    pods: list[Pod] | None = None
    apps: list[App] | None = None
    nodes: StatusCounts | None = None
    phases: StatusCounts | None = None
    hosts: dict[str, HostState] | None = Field(None, description="each host's link")
    warnings: list[str] | None = Field(
        None, description="one sentence per thing wrong: etcd near or at its quota or with an alarm, a pod "
                          "host that does not answer, and what it means")
    etcd: EtcdHealth | None = None
    events: list[Event] | None = None


class Figures(Answer):
    rps: float | None = Field(None, description="requests per second")
    requests: int | None = None
    inflight: float | None = Field(None, description="requests in progress or queued (mean)")
    cpu: float | None = Field(None, description="mean CPU % of the node limit")
    p95_ms: float | None = None
    logged: int | None = Field(None, description="requests with a logged response time")
    serving: int | None = Field(None, description="servers UP")
    time: float | None = Field(None, description="the sampler's clock (monotonic)")


class Point(Answer):
    t: float = Field(description="seconds before the snapshot the point ends")
    rps: float | None
    p95_ms: float | None
    serving: int | None
    inflight: float | None


class Dashboard(Answer):
    time: float = Field(description="Unix time of the snapshot")
    controller: bool = Field(description="the manager runs its controller (false: no figures)")
    pods: list[Pod]
    nodes: list[Node]
    apps: list[App]
    figures: dict[str, Figures] = Field(description="app → its figures over the last 10 s (null where unknown)")
    series: dict[str, list[Point]] = Field(
        description="app → its points, oldest first, one per 2 s (null where unknown)")
    events: list[Event] = Field(
        description="the most recent events, newest first (autoscale decisions have kind autoscale)")


class Health(Answer):
    status: Literal["ok"]
    version: str = Field(examples=["0.1.0"])


class Initialized(Answer):
    pods: Names | None = None
    apps: Names | None = None
    created: PodsAndApps | None = None
    existing: PodsAndApps | None = None


class Logs(Answer):
    pod: str
    node: str
    container: str = Field(examples=["sc-light.n1.4462e2a1"])
    logs: str


class Crashed(Answer):
    pod: str
    node: str
    container: str
    killed: bool





class Manager(Answer):
    name: str = Field(examples=["manager-1"])
    version: str | None = Field(None, examples=["0.1.0"])
    vip: str | None = Field(None, examples=["192.168.56.100"], description="the entry point's virtual IP")
    holds_vip: bool = Field(description="this manager holds the virtual IP now")


class BackendCounters(Answer):
    stot: int = Field(description="requests that arrived since the HAProxy worker started")
    req_tot: int = Field(description="requests answered since the HAProxy worker started")
    scur: int = Field(description="requests in the backend now, served or queued")
    qcur: int = Field(description="of those, the queued ones")
    up: list[str] = Field(description="the servers taking new requests")
    worker: int = Field(0, description="the Pid of the HAProxy worker that counted them (0: not known)")


class ManagerBackends(Answer):
    manager: str = Field(examples=["manager-1"])
    backends: dict[str, BackendCounters] = Field(description="app backend (app_<name>) → its counters")


class Leader(Answer):
    name: str = Field(examples=["manager-2"])
    epoch: int = Field(description="the leader key's create revision: every write of its term is fenced by it")
    since: float | None = Field(None, description="Unix time it became leader")
    api: str | None = None


class ManagerState(Answer):
    name: str
    reachable: bool = Field(description="its API answered just now")
    leader: bool
    holds_vip: bool
    version: str | None = None


class EtcdMember(Answer):
    name: str
    id: str = Field(description="member id, hex")
    client_urls: list[str]
    healthy: bool = Field(description="it answered a status request just now")
    leader: bool = Field(description="it is the etcd cluster's leader")
    db_size_bytes: int | None = None
    raft_term: int | None = None


class EtcdState(Answer):
    members: list[EtcdMember]
    healthy: int = Field(description="members that answered")
    error: str | None = Field(None, description="why the member list could not be read")


class VipState(Answer):
    address: str | None = None
    holder: str | None = Field(None, description="the manager that holds it (null: none, or several)")
    holders: list[str]


class Managers(Answer):
    leader: Leader | None = Field(description="who acts now (null: nobody, e.g. during a takeover)")
    managers: list[ManagerState]
    vip: VipState
    etcd: EtcdState


COMPONENTS = (Error, Names, PodsAndApps, Pod, HostState, Observed, StatusCounts, Node, App, Event, Status,
              Dashboard, EtcdMember, EtcdState, ManagerState, Leader, VipState, Host, Resources, BackendCounters)
"""The answers that are components of the document (the others are inlined where used)."""
