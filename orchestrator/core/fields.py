"""The types of the API's fields: limits, patterns, and each constrained
type with its :class:`Hint` (the sentence a person reads when a value breaks
it, and the type's description and example in the OpenAPI document).

``schema.py`` builds the request bodies from these types; ``validate.py``
checks single values with them (a name in a URL, a route in haproxy.cfg).

Pure: no I/O, nothing but pydantic and the model's constants.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import AfterValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from orchestrator.core.model import BALANCE_ALGORITHMS

# --- limits ---
MAX_NAME = 63                   # a DNS label
MAX_APP_NAME = 56               # so that node names "<app>-<n>" stay DNS labels (≤ 63)
MAX_HOST = 253
MAX_PATH = 200
MAX_IMAGE = 255
MAX_ARGS, MAX_ARG = 64, 1024     # a command's arguments, and characters in each
MAX_COMMAND_BYTES = 8192          # a command's arguments together, UTF-8 bytes (docs/api.md)
MAX_NODES_LIMIT = 1000          # max_nodes of a pod
MAX_REPLICAS = 1000
MAX_WARM = 32                   # an app's warm pool: its changes (2 etcd ops a node) fit in one transaction
MIN_CPUS, MAX_CPUS = 0.01, 64.0     # below 0.01 Docker's nano_cpus rounds towards 0 = unlimited
MIN_MEMORY_MB = 16              # docker refuses less than 6 MiB; below 16 nothing useful runs
MAX_MEMORY_MB = 1024 * 1024
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


def number(kind: type, label: str, low: float, high: float, example: float, what: str = "a whole number") -> Any:
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
    Warm: TypeAlias = int
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
        if sum(len(a.encode()) for a in args) > MAX_COMMAND_BYTES:
            raise ValueError(f"the command's arguments together must be at most {MAX_COMMAND_BYTES} bytes")
        return tuple(args)


    Command = Annotated[list[Arg], Field(min_length=1, max_length=MAX_ARGS,
                                         json_schema_extra={"prefixItems": [_PROGRAM]}),
                        AfterValidator(_program_not_empty),
                        Hint("command", "{label} {value} must be a non-empty list of at most %d arguments "
                                        "(strings of at most %d characters without NUL bytes, %d bytes in all, "
                                        "the first one not empty), run without a shell, e.g. "
                                        "[\"nc\", \"-lk\", \"-p\", \"9000\"]" % (MAX_ARGS, MAX_ARG,
                                                                                    MAX_COMMAND_BYTES),
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
    Port = number(int, "port", 1, 65535, 8080)
    Replicas = number(int, "replicas", 0, MAX_REPLICAS, 2)
    Warm = number(int, "warm", 0, MAX_WARM, 2)
    MaxNodes = number(int, "max_nodes", 1, MAX_NODES_LIMIT, 10)
    Cpus = number(float, "cpus", MIN_CPUS, MAX_CPUS, 0.25, what="a number of CPUs")
    MemoryMb = number(int, "memory_mb", MIN_MEMORY_MB, MAX_MEMORY_MB, 256, what="a whole number of MiB")
    Flag = Annotated[bool, Hint("strip_path", "{label} must be true or false, got {value}", False,
                                "Remove the path prefix before forwarding (apps that serve at /).")]
