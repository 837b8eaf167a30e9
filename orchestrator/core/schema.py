"""The API contract in one place: every request body as a pydantic model.

These models are the single source of truth for what a request may contain:
``validate.py`` parses request bodies with them (exact: patterns are anchored
and ASCII only, ranges have sane minimums, unknown fields are refused), and
``api/openapi.py`` turns them into the ``components/schemas`` of the served
OpenAPI document (``model_json_schema``), so the document states exactly the
limits the API enforces. The fields' types, with the sentence a person reads
when a value breaks one, are in ``fields.py``.

Pure: no I/O, nothing but pydantic and the model's constants.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.core.fields import (
    MAX_REPLICAS,
    AppName,
    Balance,
    Command,
    Cpus,
    Flag,
    HealthPath,
    Hint,
    HostName,
    Image,
    MaxNodes,
    MemoryMb,
    NodeName,
    PodName,
    Port,
    Replicas,
    RoutePath,
    Security,
    Warm,
    number,
)


class Body(BaseModel):
    """A request body: JSON types exactly (no "80" for 80), no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid", regex_engine="rust-regex", frozen=True)


def _one_of(*names: str) -> dict[str, Any]:
    return {"oneOf": [{"required": [n]} for n in names]}


MAX_POD_HOSTS = 64
"""Hosts one pod may have."""


class PodSpec(Body):
    """Register a pod: a pool of node slots over one or more known hosts
    (``hosts``, or ``host`` for one), ``max_nodes`` of them on each."""

    model_config = ConfigDict(json_schema_extra=_one_of("hosts", "host"))

    name: PodName
    hosts: Annotated[list[HostName], Field(min_length=1, max_length=MAX_POD_HOSTS),
                     Hint("hosts", "{label} {value} must be a list of 1 to %d host names, each like "
                                   "'pod-light-1' (see: cloud host ls)" % MAX_POD_HOSTS, ["pod-light-1"],
                          "The pod's hosts (known hosts: GET /api/hosts).")] = None  # type: ignore[assignment]
    host: HostName = Field(None, description="its one host (instead of hosts)")  # type: ignore[assignment]
    max_nodes: MaxNodes = Field(10, description="nodes of this pod allowed on each of its hosts")
    cpus: Cpus = 0.5
    memory_mb: MemoryMb = 256
    app: AppName | None = Field(None, description="default app of `cloud register NODE POD`")

    @model_validator(mode="after")
    def _hosts_or_host(self) -> PodSpec:
        if ("hosts" in self.model_fields_set) == ("host" in self.model_fields_set):
            raise ValueError("give exactly one of hosts (e.g. [\"pod-light-1\", \"pod-light-2\"]) or host "
                             "(e.g. 'pod-light'), not both and not neither")
        if self.hosts is not None and len(set(self.hosts)) != len(self.hosts):
            raise ValueError(f"hosts {self.hosts} names a host twice; name each host once")
        return self

    def host_names(self) -> tuple[str, ...]:
        return tuple(self.hosts) if self.hosts is not None else (self.host,)


class NodeSpec(Body):
    """Register a NEW node in a pod."""

    name: NodeName
    pod: PodName
    app: AppName | None = Field(None, description="defaults to the pod's app")


class AppSpec(Body):
    """Deploy an app: exactly one of ``image`` and ``command``. With neither
    ``path`` nor ``host`` it is reachable at ``/<name>``."""

    model_config = ConfigDict(json_schema_extra=_one_of("image", "command"))

    name: AppName
    pod: PodName
    port: Port
    image: Image = None  # type: ignore[assignment]   # absent, never null
    command: Command = None  # type: ignore[assignment]  # absent, never null
    replicas: Replicas = 1
    path: RoutePath | None = None
    host: HostName | None = None
    balance: Balance = "roundrobin"
    health_path: HealthPath = ""
    strip_path: Flag = Field(False, description="remove the path prefix before forwarding")
    cpus: Cpus | None = Field(None, description="CPU limit per node, at most the pod's (null: the pod's)")
    memory_mb: MemoryMb | None = Field(None, description="MiB per node, at most the pod's (null: the pod's)")
    security: Security = Field("default", description="'relaxed' opts out of the worker hardening")
    warm: Warm = Field(0, description="nodes kept started and healthy, out of the load balancing, "
                                      "that a scale-out takes first (the warm pool)")

    @model_validator(mode="after")
    def _image_or_command(self) -> AppSpec:
        if ("image" in self.model_fields_set) == ("command" in self.model_fields_set):
            raise ValueError("give exactly one of image (e.g. 'nginx:1.25') or command "
                             "(e.g. [\"nc\", \"-lk\", \"-p\", \"9000\"]), not both and not neither")
        return self


class AppUpdate(Body):
    """Change an app in place: only the fields given change. An image replaces
    the command and the other way round; ``cpus``/``memory_mb`` null mean the
    pod's node size again; ``path``/``host`` null remove that route."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1,
                                                 "not": {"required": ["image", "command"]}})

    image: Image = None  # type: ignore[assignment]   # absent, never null
    command: Command = None  # type: ignore[assignment]  # absent, never null
    port: Port = None  # type: ignore[assignment]  # absent, never null
    cpus: Cpus | None = None
    memory_mb: MemoryMb | None = None
    path: RoutePath | None = None
    host: HostName | None = None
    balance: Balance = None  # type: ignore[assignment]  # absent, never null
    health_path: HealthPath = None  # type: ignore[assignment]  # absent, never null
    strip_path: Flag = None  # type: ignore[assignment]  # absent, never null
    security: Security = None  # type: ignore[assignment]  # absent, never null
    warm: Warm = None  # type: ignore[assignment]  # absent, never null

    @model_validator(mode="after")
    def _something_and_not_both(self) -> AppUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change: give at least one of " + ", ".join(type(self).model_fields))
        if {"image", "command"} <= self.model_fields_set:
            raise ValueError("give an image or a command, not both")
        return self


class Scale(Body):
    """Set an app's replica count."""

    replicas: Replicas


# --- autoscaling ---
METRICS = ("rps", "inflight", "cpu", "p95_ms")
"""What an autoscale policy aims at. rps: requests/s per serving node;
inflight: requests in progress or queued per serving node; cpu: % of a
node's own CPU limit (100 = the whole limit); p95_ms: the app's 95th
percentile response time over the sampling window."""
COMPARATORS = (">", ">=", "<", "<=")
"""How an autoscale rule compares its metric with its threshold."""
MAX_RULES = 10
MAX_WINDOW_S = 3600.0


if TYPE_CHECKING:
    Seconds: TypeAlias = float
    Metric: TypeAlias = str
    Comparator: TypeAlias = str
    Step: TypeAlias = int
    RpsTarget: TypeAlias = float | None       # absent: None (never null)
    InflightTarget: TypeAlias = float | None
    CpuTarget: TypeAlias = float | None
    P95Target: TypeAlias = float | None
else:
    def _target(label: str, example: float) -> Any:
        return number(float, label, 0.001, 1e6, example, what="a positive number")


    Seconds = number(float, "seconds", 0, MAX_WINDOW_S, 60.0, what="a number of seconds")
    Metric = Annotated[Literal[METRICS],
                       Hint("metric", "{label} {value} is not a metric; use one of " + ", ".join(METRICS),
                            "rps", "rps: requests/s per node; inflight: requests in progress or queued per "
                                   "node; cpu: % of a node's CPU limit; p95_ms: the app's p95 response time.")]
    Comparator = Annotated[Literal[COMPARATORS],
                           Hint("comparator", "{label} {value} is not a comparator; use one of "
                                + ", ".join(COMPARATORS), ">", "How the metric is compared with the threshold.")]
    Step = Annotated[int, Field(ge=-100, le=100),
                     Hint("step", "{label} must be a whole number from -100 to 100 other than 0, got {value}", 2,
                          "Nodes to add (positive) or remove (negative) when the rule fires.")]

    RpsTarget, InflightTarget = _target("rps", 20.0), _target("inflight", 4.0)
    CpuTarget, P95Target = _target("cpu", 60.0), _target("p95_ms", 250.0)


class AutoscaleRule(Body):
    """A rule (the PES project's kind): when ``metric comparator threshold``
    has held for ``for_s`` seconds, add ``step`` nodes (negative: remove),
    then let no rule act for ``cooldown_s`` seconds."""

    metric: Metric
    comparator: Comparator
    threshold: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
    for_s: Seconds = 0.0
    step: Step
    cooldown_s: Seconds = 60.0

    @model_validator(mode="after")
    def _step_not_zero(self) -> AutoscaleRule:
        if self.step == 0:
            raise ValueError("a rule's step must add or remove nodes (e.g. 2 or -1), not 0")
        return self


# One shape from the API to the decision: the API parses a policy into this
# model, the store keeps its JSON and reads it back through it, and
# core/autoscale/ decides by it (``targets``, ``kind``).
class Autoscale(Body):
    """An app's autoscale policy: stay within [min, max] and aim at one or more
    per-node targets (the biggest ask wins), or follow rules. ``idle_to_zero_s``
    (with ``min`` 0) scales the app to zero after that long without a request;
    the first request after that is held while a node starts."""

    min: Annotated[int, Field(ge=0, le=MAX_REPLICAS),
                   Hint("min", "{label} must be a whole number from 0 to %d, got {value}" % MAX_REPLICAS, 1,
                        "Fewest replicas.")]
    max: Annotated[int, Field(ge=1, le=MAX_REPLICAS),
                   Hint("max", "{label} must be a whole number from 1 to %d, got {value}" % MAX_REPLICAS, 10,
                        "Most replicas.")]
    model_config = ConfigDict(json_schema_extra={      # what the validator below says, for clients
        "anyOf": [{"required": [m]} for m in METRICS]  # type: ignore[dict-item]  # pydantic's JsonDict is narrower than these nested literals
        + [{"required": ["rules"], "properties": {"rules": {"minItems": 1}}}],
        "not": {"anyOf": [{"required": [m, "rules"], "properties": {"rules": {"minItems": 1}}}
                          for m in METRICS]},
        "if": {"required": ["idle_to_zero_s"], "properties": {"idle_to_zero_s": {"type": "number"}}},
        "then": {"properties": {"min": {"const": 0}}},
    })

    rps: RpsTarget = Field(None, description="target requests/s per node")
    inflight: InflightTarget = Field(None, description="target requests in progress or queued per node")
    cpu: CpuTarget = Field(None, description="target CPU, % of a node's own limit")
    p95_ms: P95Target = Field(None, description="target p95 response time of the app, ms")
    rules: list[AutoscaleRule] = Field(default_factory=list, max_length=MAX_RULES)
    idle_to_zero_s: Annotated[float, Field(ge=10, le=86400, allow_inf_nan=False)] | None = Field(
        None, description="scale to zero after this many seconds without a request (needs min 0)")
    scale_down_window_s: Seconds = Field(300.0, description="scale down only to the highest "
                                                            "recommendation of this window")

    @property
    def targets(self) -> dict[str, float]:
        """Metric → target per node (p95_ms: app-wide), in METRICS order."""
        return {m: v for m in METRICS if (v := getattr(self, m)) is not None}

    @property
    def kind(self) -> str:
        """"rules" or "targets": which of the two the decision follows."""
        return "rules" if self.rules else "targets"

    @model_validator(mode="after")
    def _coherent(self) -> Autoscale:
        targets = [m for m in METRICS if getattr(self, m) is not None]
        if not targets and not self.rules:
            raise ValueError("give at least one target (rps, inflight, cpu, p95_ms) or a rule")
        if targets and self.rules:
            raise ValueError("give targets or rules, not both")
        if self.idle_to_zero_s is not None and self.min != 0:
            raise ValueError("idle_to_zero_s needs min 0 (an app with min > 0 never idles to zero)")
        return self


class HostPod(Body):
    """Put a host into a pod."""

    pod: PodName


REQUEST_MODELS = (PodSpec, NodeSpec, AppSpec, AppUpdate, Scale, Autoscale, HostPod)
