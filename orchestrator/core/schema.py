"""The API contract in one place: every request body as a pydantic model.

These models are the single source of truth for what a request may contain:
``validate.py`` parses request bodies with them (exact: patterns are anchored
and ASCII only, ranges have sane minimums, unknown fields are refused), and
``api/openapi.py`` turns them into the ``components/schemas`` of the served
OpenAPI document (``model_json_schema``), so the document states exactly the
limits the API enforces.

Each constrained type carries a :class:`Hint`: the sentence a person reads
when a value breaks it ("... use only lowercase letters ... (e.g. 'web-1')").
The rule also appears in the document as the type's description and example.

Pure: no I/O, nothing but pydantic and the model's constants.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from orchestrator.core.model import BALANCE_ALGORITHMS

# --- limits ---
MAX_NAME = 63                   # a DNS label
MAX_APP_NAME = 56               # so that node names "<app>-<n>" stay DNS labels (≤ 63)
MAX_HOST = 253
MAX_PATH = 200
MAX_IMAGE = 255
MAX_ARGS, MAX_ARG = 256, 4096
MAX_NODES_LIMIT = 1000          # max_nodes of a pod
MAX_REPLICAS = 1000
MIN_CPUS, MAX_CPUS = 0.01, 64.0     # below 0.01 Docker's nano_cpus rounds towards 0 = unlimited
MIN_MEMORY_MB = 16              # docker refuses less than 6 MiB; below 16 nothing useful runs
MAX_MEMORY_MB = 1024 * 1024
METRICS = ("rps", "inflight", "cpu", "p95_ms")
"""What an autoscale policy aims at. rps: requests/s per serving node;
inflight: requests in progress or queued per serving node; cpu: % of a
node's own CPU limit (100 = the whole limit); p95_ms: the app's 95th
percentile response time over the sampling window."""
COMPARATORS = (">", ">=", "<", "<=")
"""How an autoscale rule compares its metric with its threshold."""
SECURITY_PROFILES = ("default", "relaxed")
"""Worker hardening: "default" drops capabilities and sets no-new-privileges;
"relaxed" keeps Docker's default capabilities (the pids limit stays)."""

# --- patterns: anchored, ASCII only (no \w or \d: those match non-ASCII letters) ---
LABEL = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
_HOST_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST = rf"^{_HOST_LABEL}(\.{_HOST_LABEL})*$"
_SEGMENT = (r"(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*"       # a path segment, but not "." or ".."
            r"|\.[A-Za-z0-9_~-][A-Za-z0-9._~-]*|\.\.[A-Za-z0-9._~-]+)")
PATH = rf"^/(?:{_SEGMENT}(?:/{_SEGMENT})*)?$"
HEALTH_PATH = rf"^$|{PATH}"
# Docker image reference ([domain[:port]/]path[:tag][@digest], distribution/reference)
_DOMAIN_COMP = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMP}(?:\.{_DOMAIN_COMP})*(?::[0-9]+)?)"
_PATH_COMP = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE = (rf"^(?:{_DOMAIN}/)?{_PATH_COMP}(?:/{_PATH_COMP})*"
         r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
         r"(?:@sha256:[0-9a-f]{64})?$")       # the only digest Docker resolves
ARG = r"^[^\x00]*$"


@dataclass(frozen=True, eq=False)    # hashed by identity: the example may be a list
class Hint:
    """What a value of one type must look like, in words, with a good example.

    ``text`` is a format string over ``{label}`` (what the value is, e.g.
    "app name") and ``{value}`` (the bad value, already quoted); ``doc`` is
    its description in the OpenAPI document."""

    label: str
    text: str
    example: Any
    doc: str = ""

    def message(self, value: Any) -> str:
        return self.text.format(label=self.label, value=short(value))

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler(source)

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        if self.doc:
            schema["description"] = self.doc
        schema["examples"] = [self.example]
        return schema


def short(value: Any, limit: int = 60) -> str:
    """repr() of a value, cut to ``limit`` characters (messages echo user input)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 5] + "...'" + text[-1:]


_NAME_TEXT = ("{label} {value} is not a valid name: use only lowercase letters a-z, digits and '-', "
              "not starting or ending with '-', at most %d characters (e.g. 'web-1')")


def name_type(label: str, max_len: int = MAX_NAME) -> Any:
    """The type of a name (a DNS label of at most ``max_len``), e.g. of a pod."""
    return Annotated[str, Field(min_length=1, max_length=max_len, pattern=LABEL),
                     Hint(label, _NAME_TEXT % max_len, "web-1", f"A DNS label of at most {max_len} characters.")]


def _number(kind: type, label: str, low: float, high: float, example: float, what: str = "a whole number") -> Any:
    return Annotated[kind, Field(ge=low, le=high, allow_inf_nan=False) if kind is float
                     else Field(ge=low, le=high),
                     Hint(label, f"{{label}} must be {what} from {low:g} to {high:g}, got {{value}}", example,
                          f"{what[0].upper()}{what[1:]} from {low:g} to {high:g}.")]


if TYPE_CHECKING:
    # For the type checker these are the plain types; at run time (below) they
    # carry their constraints and hints, which pydantic enforces and documents.
    PodName: TypeAlias = str
    NodeName: TypeAlias = str
    AppName: TypeAlias = str
    HostName: TypeAlias = str
    RoutePath: TypeAlias = str
    HealthPath: TypeAlias = str
    Image: TypeAlias = str
    Arg: TypeAlias = str
    Balance: TypeAlias = str
    Security: TypeAlias = str
    Command: TypeAlias = tuple[str, ...]
    Port: TypeAlias = int
    Replicas: TypeAlias = int
    MaxNodes: TypeAlias = int
    MemoryMb: TypeAlias = int
    Cpus: TypeAlias = float
    Flag: TypeAlias = bool
else:
    PodName = name_type("pod name")
    NodeName = name_type("node name")
    AppName = name_type("app name", MAX_APP_NAME)
    HostName = Annotated[str, Field(min_length=1, max_length=MAX_HOST, pattern=HOST), AfterValidator(str.lower),
                         Hint("host", "{label} {value} is not a valid host name: use dot-separated labels of "
                                      "letters, digits and '-' (e.g. 'pod-light' or 'web.example.org')",
                              "pod-light", "An RFC 1123 host name (stored in lower case).")]
    _PATH_TEXT = ("{label} {value} is not a clean path prefix: it must start with '/', use segments of "
                  "letters, digits and '.-_~' separated by single '/', no trailing '/', no '.' or '..' "
                  "segments, no query, at most %d characters (e.g. '/web' or '/api/v1')" % MAX_PATH)
    _PATH_DOC = "A clean URL path prefix: '/' then segments of [A-Za-z0-9._~-], no '.' or '..' segments."
    RoutePath = Annotated[str, Field(max_length=MAX_PATH, pattern=PATH), Hint("path", _PATH_TEXT, "/web", _PATH_DOC)]
    HealthPath = Annotated[str, Field(max_length=MAX_PATH, pattern=HEALTH_PATH),
                           Hint("health_path", _PATH_TEXT + "; or '' for a TCP check", "/health",
                                "HTTP check path (a clean path); '' means a TCP check.")]
    Image = Annotated[str, Field(min_length=1, max_length=MAX_IMAGE, pattern=IMAGE),
                      Hint("image", "{label} {value} is not a valid image reference; write it like "
                                    "'nginx:1.25', 'simplecloud/light' or 'manager:5050/team/app:v2' "
                                    "(lowercase repository name, ASCII only, at most %d characters)" % MAX_IMAGE,
                           "nginx:1.25", "A Docker image reference: [registry[:port]/]name[:tag][@digest].")]
    Arg = Annotated[str, Field(max_length=MAX_ARG, pattern=ARG)]
    _PROGRAM = {"type": "string", "minLength": 1, "maxLength": MAX_ARG, "pattern": ARG}


    def _program_not_empty(args: list[str]) -> tuple[str, ...]:
        if not args[0]:
            raise ValueError("the first command argument (the program) must not be empty")
        return tuple(args)


    Command = Annotated[list[Arg], Field(min_length=1, max_length=MAX_ARGS,
                                         json_schema_extra={"prefixItems": [_PROGRAM]}),
                        AfterValidator(_program_not_empty),
                        Hint("command", "{label} {value} must be a non-empty list of at most %d arguments "
                                        "(strings without NUL bytes, the first one not empty), run without a "
                                        "shell, e.g. [\"nc\", \"-lk\", \"-p\", \"9000\"]" % MAX_ARGS,
                             ["nc", "-lk", "-p", "9000"],
                             "Program and arguments, run without a shell in the default command image.")]
    Balance = Annotated[Literal[BALANCE_ALGORITHMS],
                        Hint("balance", "{label} {value} is not supported; use one of "
                                        + ", ".join(BALANCE_ALGORITHMS), "roundrobin",
                             "HAProxy balance algorithm.")]
    Security = Annotated[Literal[SECURITY_PROFILES],
                         Hint("security", "{label} {value} is not a security profile; use 'default' "
                                          "(dropped capabilities, no-new-privileges) or 'relaxed' "
                                          "(Docker's default capabilities)", "default",
                              "Worker hardening: 'default' drops capabilities and sets no-new-privileges; "
                              "'relaxed' keeps Docker's default capabilities (the pids limit stays).")]
    Port = _number(int, "port", 1, 65535, 8080)
    Replicas = _number(int, "replicas", 0, MAX_REPLICAS, 2)
    MaxNodes = _number(int, "max_nodes", 1, MAX_NODES_LIMIT, 10)
    Cpus = _number(float, "cpus", MIN_CPUS, MAX_CPUS, 0.25, what="a number of CPUs")
    MemoryMb = _number(int, "memory_mb", MIN_MEMORY_MB, MAX_MEMORY_MB, 256, what="a whole number of MiB")
    Flag = Annotated[bool, Hint("strip_path", "{label} must be true or false, got {value}", False,
                                "Remove the path prefix before forwarding (apps that serve at /).")]


class Body(BaseModel):
    """A request body: JSON types exactly (no "80" for 80), no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid", regex_engine="rust-regex", frozen=True)


class PodSpec(Body):
    """Register a pod: a pool of node slots on one pod host."""

    name: PodName
    host: HostName
    max_nodes: MaxNodes = 10
    cpus: Cpus = 0.5
    memory_mb: MemoryMb = 256
    app: AppName | None = Field(None, description="default app of `cloud register NODE POD`")


class NodeSpec(Body):
    """Register a NEW node in a pod."""

    name: NodeName
    pod: PodName
    app: AppName | None = Field(None, description="defaults to the pod's app")


def _one_of(*names: str) -> dict[str, Any]:
    return {"oneOf": [{"required": [n]} for n in names]}


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
        return _number(float, label, 0.001, 1e6, example, what="a positive number")


    Seconds = _number(float, "seconds", 0, MAX_WINDOW_S, 60.0, what="a number of seconds")
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


REQUEST_MODELS = (PodSpec, NodeSpec, AppSpec, AppUpdate, Scale, Autoscale)
