"""`cloud`: the command-line client of the simplecloud API.

It is a plain HTTP client (``requests``); it holds no state and makes no
decisions, so everything it can do, ``curl`` can do too (see docs/api.md).

Where it sends requests, first match wins:

* API address: ``--api``, ``$SIMPLECLOUD_API``, the file ``.simplecloud/api``
  found in the current directory or any parent (written by ``make up``),
  then ``http://127.0.0.1:5000``;
* token: ``--token``, ``$SIMPLECLOUD_TOKEN``, ``.simplecloud/token``; sent
  with every request, reads too (the API answers only health and its
  OpenAPI document without it);
* for an ``https://`` API, the CA that signed its certificate: ``--ca``,
  ``$SIMPLECLOUD_CA``, ``.simplecloud/ca.pem`` (the lab CA, written by
  ``make up``), else the system's trusted CAs.

Exit codes: 0 success, 1 the API refused (the message says why), 2 usage
error, 3 the API cannot be reached, 4 ``--wait`` gave up (the nodes did not
all serve in time), 130 interrupted (``cloud bench`` after Ctrl-C, with its partial
report). Errors are ONE line on stderr, starting with ``cloud:``;
a traceback is a bug.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import requests

DEFAULT_API = "http://127.0.0.1:5000"
CONFIG_DIR = ".simplecloud"
TIMEOUT = 30.0
BALANCE_ALGORITHMS = ("roundrobin", "leastconn", "random", "first", "source")
SECURITY_PROFILES = ("default", "relaxed")

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_WAIT = 0, 1, 2, 3, 4
DEFAULT_WAIT = 120.0


class CliError(Exception):
    """A failure to report as one line, with the exit code to use."""

    def __init__(self, message: str, code: int = EXIT_API):
        super().__init__(message)
        self.code = code


# --- where is the API? --------------------------------------------------------

def find_config_file(name: str, start: Path | None = None) -> Path | None:
    """``.simplecloud/<name>`` in ``start`` (default: cwd) or the nearest parent."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_DIR / name
        if candidate.is_file():
            return candidate
    return None


def resolve_ca(flag: str | None, environ=None) -> str | None:
    """The CA file for an https API: --ca, $SIMPLECLOUD_CA, .simplecloud/ca.pem, or None."""
    environ = os.environ if environ is None else environ
    path = flag or environ.get("SIMPLECLOUD_CA") or find_config_file("ca.pem")
    if path is None:
        return None
    if not Path(path).is_file():
        raise CliError(f"the CA file {path} does not exist (--ca / $SIMPLECLOUD_CA)", EXIT_USAGE)
    return str(path)


def resolve(flag: str | None, env_var: str, file_name: str, default: str | None,
            environ=None, start: Path | None = None) -> str | None:
    """Flag, then environment variable, then config file, then default."""
    environ = os.environ if environ is None else environ
    if flag:
        return flag
    if environ.get(env_var):
        return environ[env_var]
    path = find_config_file(file_name, start)
    if path is not None:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
        if value:
            return value
    return default


# --- HTTP ---------------------------------------------------------------------

class Client:
    """Sends one request per call and returns the decoded JSON answer."""

    def __init__(self, api: str, token: str | None, timeout: float = TIMEOUT, ca: str | None = None):
        self.api = api.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.verify = ca or True        # requests: a CA file, or the system's CAs

    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None):
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = requests.request(method, self.api + path, json=body, params=params,
                                        headers=headers, timeout=self.timeout, verify=self.verify)
        except requests.exceptions.SSLError:
            raise CliError(f"cannot verify the TLS certificate of {self.api}: give the CA that signed it "
                           "with --ca, $SIMPLECLOUD_CA or .simplecloud/ca.pem (the lab's)",
                           EXIT_UNREACHABLE) from None
        except requests.exceptions.Timeout:
            raise CliError(f"the simplecloud API at {self.api} did not answer within {self.timeout:g} s",
                           EXIT_UNREACHABLE) from None
        except requests.exceptions.InvalidURL as exc:
            raise CliError(f"the API address {self.api!r} is not a valid URL ({exc}); "
                           "fix --api, $SIMPLECLOUD_API or .simplecloud/api", EXIT_USAGE) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema):
            raise CliError(f"cannot reach the simplecloud API at {self.api} (is the lab up? try: make up)",
                           EXIT_UNREACHABLE) from None
        try:
            data = response.json()
        except ValueError:
            raise CliError(f"unexpected answer from {self.api}{path}: HTTP {response.status_code}, not JSON "
                           "(is --api / $SIMPLECLOUD_API the simplecloud manager?)") from None
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise CliError(message or f"HTTP {response.status_code} from {path}")
        return data


# --- output -------------------------------------------------------------------

def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Aligned text table; ``columns`` is [(HEADER, key), ...]."""
    cells = [[header for header, _ in columns]]
    cells += [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return shlex.join(str(v) for v in value)
    return str(value)


def age(created, now: float | None = None) -> str:
    """``created`` (Unix time) as a short age: 42s, 5m, 3h, 2d."""
    if not isinstance(created, (int, float)) or created <= 0:
        return "-"
    seconds = max(0, int((now or time.time()) - created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def app_rows(apps: list[dict]) -> list[dict]:
    rows = []
    for a in apps:
        route = " ".join(x for x in (a.get("host"), a.get("path")) if x)
        rows.append({**a, "run": a.get("image") or a.get("command"), "route": route,
                     "statuses": _statuses(a), "autoscale": autoscale_cell(a.get("autoscale"))})
    return rows


def autoscale_cell(autoscale: dict | None) -> str:
    """An app's policy and its metrics now against the targets, e.g.
    "1..10, rps 20/node; now rps 41.2/20" ('-' when not autoscaled)."""
    if not autoscale:
        return "-"
    last = autoscale.get("last") or {}
    now = [f"{m} {'?' if v is None else format(v, '.3g')}/{t:g}"
           for m, (v, t) in (last.get("metrics") or {}).items()]
    return autoscale.get("summary", "on") + (f"; now {', '.join(now)}" if now else "")


RULE_WORDS = "METRIC COMPARATOR THRESHOLD [for SECONDS] step N [cooldown SECONDS]"


def parse_rule(text: str) -> dict:
    """``rps > 50 for 10 step +2 cooldown 60`` → an API rule (a bad one: one readable line)."""
    words = text.split()
    try:
        metric, comparator, threshold = words[0], words[1], float(words[2])
        options = dict(zip(words[3::2], words[4::2]))
        if len(words[3:]) % 2 or set(options) - {"for", "step", "cooldown"} or "step" not in options:
            raise ValueError
        rule = {"metric": metric, "comparator": comparator, "threshold": threshold,
                "step": int(options["step"])}
        rule.update({k + "_s": float(options[k]) for k in ("for", "cooldown") if k in options})
        return rule
    except (IndexError, ValueError):
        raise CliError(f"--rule {text!r} is not a rule: write {RULE_WORDS}, "
                       f"e.g. 'rps > 50 for 10 step +2 cooldown 60'", EXIT_USAGE) from None


def node_rows(nodes: list[dict], now: float | None = None) -> list[dict]:
    """Nodes with what was observed of them: phase, health, host, IP, restarts."""
    rows = []
    for n in nodes:
        o = n.get("observed") or {}
        healthy = o.get("healthy")
        phase = o.get("phase") or "-"
        if o.get("updating"):
            phase += " (updating)"
        if phase.startswith("backoff") and isinstance(o.get("retry_at"), (int, float)):
            phase += f" (retry in {max(0, int(o['retry_at'] - (now or time.time())))}s)"
        rows.append({**n, "age": age(n.get("created")), "phase": phase,
                     "health": {True: "up", False: "down"}.get(healthy, "-"),
                     "host": o.get("host"), "ip": o.get("ip"), "restarts": o.get("restarts", 0),
                     "since": age(o.get("since"), now), "error": o.get("last_error") or o.get("host_error")})
    return rows


def pod_rows(pods: list[dict], now: float | None = None) -> list[dict]:
    """Pods as the API lists them (with ``used`` and ``statuses``), ready for a table."""
    return [{**p, "nodes": f"{p.get('used', '?')}/{p.get('max_nodes')}",
             "memory": f"{p.get('memory_mb')} MiB", "statuses": _statuses(p),
             "reach": host_reach(p.get("host_state"), now)} for p in pods]


def host_reach(state: dict | None, now: float | None = None) -> str:
    """"reachable", or "UNREACHABLE 42s" with the time since it went away."""
    if not state:
        return "-"
    if state.get("reachable"):
        return "reachable"
    return f"UNREACHABLE {age(state.get('since'), now)}"


def q(value) -> str:
    """One URL path segment: a name such as "../apps/x" stays one segment
    (the server then refuses it as an invalid name) instead of a new path.
    "", "." and ".." are refused here: HTTP clients resolve them as directory
    steps ("/api/pods/p/nodes/.." would become "/api/pods/p/")."""
    from urllib.parse import quote
    text = str(value)
    if text in ("", ".", ".."):
        raise CliError(f"{text!r} is not a valid name: use lowercase letters, digits and '-' "
                       "(e.g. 'web-1')", EXIT_USAGE)
    return quote(text, safe="")


def _statuses(item: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in (item.get("statuses") or {}).items())


POD_COLUMNS = [("NAME", "name"), ("HOST", "host"), ("REACH", "reach"), ("NODES", "nodes"),
               ("CPUS", "cpus"), ("MEMORY", "memory"), ("APP", "app"), ("STATUS", "statuses")]
NODE_COLUMNS = [("NAME", "name"), ("POD", "pod"), ("APP", "app"), ("STATUS", "status"),
                ("PHASE", "phase"), ("HEALTH", "health"), ("HOST", "host"), ("IP", "ip"),
                ("RESTARTS", "restarts"), ("SINCE", "since"), ("AGE", "age"), ("LAST ERROR", "error")]
APP_COLUMNS = [("NAME", "name"), ("POD", "pod"), ("REPLICAS", "replicas"), ("SERVING", "serving"),
               ("PORT", "port"), ("ROUTE", "route"), ("BALANCE", "balance"), ("STATUS", "statuses"),
               ("AUTOSCALE", "autoscale"), ("RUNS", "run")]
EVENT_COLUMNS = [("TIME", "when"), ("KIND", "kind"), ("SUBJECT", "subject"), ("MESSAGE", "message")]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _names(items) -> str:
    return ", ".join(str(i.get("name", "?")) if isinstance(i, dict) else str(i) for i in items) or "none"


# --- commands -----------------------------------------------------------------
# Each takes (client, args) and returns (data, human text). main() prints the
# data as JSON with --json, the text otherwise.

def cmd_init(c: Client, a):
    data = c.call("POST", "/api/init")
    created = data.get("created") or {} if isinstance(data, dict) else {}
    if created.get("pods") or created.get("apps"):
        return data, (f"cluster initialized: created pods {_names(created.get('pods', []))}; "
                      f"apps {_names(created.get('apps', []))}")
    return data, "cluster already initialized: nothing to create"


def cmd_pod_ls(c: Client, a):
    pods = c.call("GET", "/api/pods")
    return pods, table(pod_rows(pods), POD_COLUMNS)


def cmd_pod_register(c: Client, a):
    body = {"name": a.name, "host": a.host, "max_nodes": a.max_nodes, "cpus": a.cpus,
            "memory_mb": a.memory, "app": a.app}
    pod = c.call("POST", "/api/pods", {k: v for k, v in body.items() if v is not None})
    return pod, (f"pod '{a.name}' registered on host {pod.get('host', a.host)}: up to "
                 f"{_cell(pod.get('max_nodes'))} nodes of {_cell(pod.get('cpus'))} CPU / "
                 f"{_cell(pod.get('memory_mb'))} MiB")


def cmd_pod_rm(c: Client, a):
    return c.call("DELETE", f"/api/pods/{q(a.name)}"), f"pod '{a.name}' removed"


def cmd_register(c: Client, a):
    body = {"name": a.node, "pod": a.pod, **({"app": a.app} if a.app else {})}
    node = c.call("POST", "/api/nodes", body)
    return node, (f"node '{a.node}' registered in pod '{a.pod}' (app {_cell(node.get('app'))}, "
                  f"status {node.get('status', 'NEW')}); start it with: cloud launch {a.pod}")


def cmd_rm(c: Client, a):
    return c.call("DELETE", f"/api/pods/{q(a.pod)}/nodes/{q(a.node)}"), f"node '{a.node}' of pod '{a.pod}' removed"


def cmd_launch(c: Client, a):
    node = c.call("POST", f"/api/pods/{q(a.pod)}/launch")
    text = f"node '{node.get('name', '?')}' of pod '{a.pod}' is now {node.get('status', 'ONLINE')}"
    if a.wait:
        _progress(text)
        wait_for(lambda: _node_serving(c, a.pod, node.get("name")), a.timeout,
                 f"node {node.get('name')} of pod {a.pod}")
        text = f"node '{node.get('name', '?')}' of pod '{a.pod}' serves"
    return node, text


def _node_serving(c: Client, pod: str, name: str) -> tuple[bool, str]:
    nodes = [n for n in c.call("GET", "/api/nodes", params={"pod": pod}) if n.get("name") == name]
    if not nodes:
        raise CliError(f"node '{name}' of pod '{pod}' was removed while waiting for it")
    o = nodes[0].get("observed") or {}
    phase = o.get("phase") or "waiting for the controller"
    detail = f"; last error: {o['last_error']}" if o.get("last_error") and phase != "serving" else ""
    return phase == "serving" and not o.get("updating"), f"{phase}{detail}"


def _app_serving(c: Client, name: str, replicas: int | None = None) -> tuple[bool, str]:
    app = c.call("GET", f"/api/apps/{q(name)}")
    want = app.get("replicas", 0) if replicas is None else replicas
    serving, updating = app.get("serving", 0), app.get("updating", 0)
    others = {k: v for k, v in (app.get("phases") or {}).items() if k != "serving"}
    text = f"{serving}/{want} serving" + (f", {updating} updating" if updating else "") + (
        " (" + " ".join(f"{k}={v}" for k, v in sorted(others.items())) + ")" if others else "")
    errors = [(n.get("observed") or {}).get("last_error") for n in app.get("nodes", [])
              if (n.get("observed") or {}).get("phase") in ("backoff", "unhealthy")]
    if errors and errors[0]:
        text += f"; last error: {errors[0]}"
    done = serving == want and app.get("replicas") == want and not updating
    return done, text


def wait_for(check, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``check() -> (done, progress text)`` until done, showing progress on
    stderr; CliError (exit 4) with the last progress after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        done, text = check()
        if text != last:
            _progress(f"waiting for {what}: {text}")
            last = text
        if done:
            _progress("", end=True)
            return
        if time.monotonic() >= deadline:
            _progress("", end=True)
            raise CliError(f"gave up after {timeout:g} s waiting for {what}: {text}", EXIT_WAIT)
        time.sleep(interval)


def _progress(text: str, end: bool = False) -> None:
    """One progress line on stderr: rewritten in place on a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + text + ("\n" if end and text else ""))
    elif text:
        sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _bulk(verb: str):
    def command(c: Client, a):
        nodes = c.call("POST", f"/api/pods/{q(a.pod)}/{q(verb)}")
        nodes = nodes if isinstance(nodes, list) else nodes.get("nodes", []) if isinstance(nodes, dict) else []
        past = {"pause": "paused", "resume": "resumed"}[verb]
        return nodes, f"pod '{a.pod}': {_plural(len(nodes), 'node')} {past}" + (
            f" ({_names(nodes)})" if nodes else "")
    return command


def cmd_app_deploy(c: Client, a):
    spec = {"name": a.name, "pod": a.pod, "replicas": a.replicas, "port": a.port, "path": a.path,
            "host": a.host, "balance": a.balance, "health_path": a.health_path,
            "strip_path": True if a.strip_path else None, "security": a.security}
    if a.image:
        spec["image"] = a.image
    else:
        try:
            spec["command"] = shlex.split(a.command)
        except ValueError as exc:
            raise CliError(f"--command {a.command!r} cannot be split into arguments: {exc}", EXIT_USAGE) from None
        if not spec["command"]:
            raise CliError("--command is empty; give the program and its arguments, e.g. --command 'nc -lk -p 9000'",
                           EXIT_USAGE)
    spec.update(cpus=a.cpus, memory_mb=a.memory)
    app = c.call("POST", "/api/apps", {k: v for k, v in spec.items() if v is not None})
    route = " ".join(x for x in (app.get("host"), app.get("path")) if x) or "no route"
    replicas = app.get("replicas", a.replicas)
    text = f"app '{a.name}' deployed in pod '{a.pod}': {_plural(replicas, 'replica')}, route {route}"
    return app, _maybe_wait(c, a, text, replicas)


def _maybe_wait(c: Client, a, text: str, replicas: int | None = None) -> str:
    if not getattr(a, "wait", False):
        return text
    _progress(text)
    wait_for(lambda: _app_serving(c, a.name, replicas), a.timeout, f"app {a.name}")
    app = c.call("GET", f"/api/apps/{q(a.name)}")
    return f"{text}; {app.get('serving', 0)} of {_plural(app.get('replicas', 0), 'replica')} serve"


def cmd_app_scale(c: Client, a):
    app = c.call("PUT", f"/api/apps/{q(a.name)}/scale", {"replicas": a.replicas})
    text = f"app '{a.name}' scaled to {_plural(app.get('replicas', a.replicas), 'replica')}"
    if app.get("note"):
        text = f"{app['note']}\n{text}"
    return app, _maybe_wait(c, a, text, app.get("replicas", a.replicas))


def cmd_app_autoscale(c: Client, a):
    if a.off:
        if a.min is not None or a.max is not None or a.rule or any(
                getattr(a, m) is not None for m in ("rps", "inflight", "cpu", "p95_ms")):
            raise CliError("--off takes no other option", EXIT_USAGE)
        app = c.call("DELETE", f"/api/apps/{q(a.name)}/autoscale")
        return app, f"app '{a.name}' no longer autoscales; it keeps {_plural(app.get('replicas', 0), 'replica')}"
    if a.min is None or a.max is None:
        raise CliError("give --min and --max (or --off)", EXIT_USAGE)
    policy = {"min": a.min, "max": a.max, "rps": a.rps, "inflight": a.inflight, "cpu": a.cpu,
              "p95_ms": a.p95_ms, "idle_to_zero_s": a.idle_to_zero, "scale_down_window_s": a.window,
              "rules": [parse_rule(r) for r in a.rule] or None}
    app = c.call("PUT", f"/api/apps/{q(a.name)}/autoscale", {k: v for k, v in policy.items() if v is not None})
    return app, f"app '{a.name}' autoscales: {(app.get('autoscale') or {}).get('summary', 'on')}"


def cmd_app_update(c: Client, a):
    changes = {"image": a.image, "port": a.port, "cpus": a.cpus, "memory_mb": a.memory,
               "path": a.path or None, "host": a.host or None, "balance": a.balance,
               "health_path": a.health_path, "strip_path": a.strip_path, "security": a.security}
    if a.command is not None:
        try:
            changes["command"] = shlex.split(a.command)
        except ValueError as exc:
            raise CliError(f"--command {a.command!r} cannot be split into arguments: {exc}", EXIT_USAGE) from None
    changes = {k: v for k, v in changes.items() if v is not None}
    for route in ("path", "host"):          # --path '' removes the path route (null in the API)
        if getattr(a, route) == "":
            changes[route] = None
    if not changes:
        raise CliError("nothing to change: give at least one of --image, --command, --port, --cpus, "
                       "--memory, --path, --host, --balance, --health-path, --strip-path, --security",
                       EXIT_USAGE)
    app = c.call("PATCH", f"/api/apps/{q(a.name)}", changes)
    changed = app.get("changed") or []
    text = (f"app '{a.name}' updated: {', '.join(changed)}" if changed
            else f"app '{a.name}' already has these settings: nothing to do")
    return app, _maybe_wait(c, a, text)


def cmd_node_crash(c: Client, a):
    pod = a.pod or _pod_of(c, a.node)
    data = c.call("POST", f"/api/pods/{q(pod)}/nodes/{q(a.node)}/crash")
    return data, (f"node '{a.node}' of pod '{pod}': container {data.get('container', '?')} killed; "
                  "the controller replaces it (see: cloud node ls)")


def cmd_app_stop(c: Client, a):
    return c.call("DELETE", f"/api/apps/{q(a.name)}"), f"app '{a.name}' stopped"


def cmd_app_ls(c: Client, a):
    apps = c.call("GET", "/api/apps")
    return apps, table(app_rows(apps), APP_COLUMNS)


def cmd_node_ls(c: Client, a):
    nodes = c.call("GET", "/api/nodes", params={"pod": a.pod} if a.pod else None)
    return nodes, table(node_rows(nodes), NODE_COLUMNS)


def cmd_logs(c: Client, a):
    pod = a.pod or _pod_of(c, a.node)
    data = c.call("GET", f"/api/pods/{q(pod)}/nodes/{q(a.node)}/logs", params={"tail": a.tail})
    lines = data.get("lines", data.get("logs", "")) if isinstance(data, dict) else data
    return data, "\n".join(lines) if isinstance(lines, list) else str(lines).rstrip("\n")


def _pod_of(c: Client, node: str) -> str:
    pods = sorted({n["pod"] for n in c.call("GET", "/api/nodes") if n.get("name") == node})
    if not pods:
        raise CliError(f"no node named '{node}' in any pod; see: cloud node ls")
    if len(pods) > 1:
        raise CliError(f"node '{node}' exists in pods {', '.join(pods)}; choose one with --pod")
    return pods[0]


def cmd_status(c: Client, a):
    data = c.call("GET", "/api/status")
    return data, format_status(data)


def format_status(data: dict) -> str:
    """Human summary of /api/status: pods, apps, then recent events."""
    parts = []
    warnings = data.get("warnings") if isinstance(data, dict) else None
    if isinstance(warnings, list) and warnings:
        parts.append("\n".join(f"WARNING: {w}" for w in warnings))
    pods = data.get("pods") if isinstance(data, dict) else None
    if isinstance(pods, list):
        parts.append("PODS\n" + table(pod_rows(pods), [c for c in POD_COLUMNS if c[0] != "MEMORY"]))
    apps = data.get("apps") if isinstance(data, dict) else None
    if isinstance(apps, list):
        parts.append("APPS\n" + table(app_rows(apps), APP_COLUMNS[:-1]))
    counts = data.get("nodes") if isinstance(data, dict) else None
    if isinstance(counts, dict):
        parts.append("NODES  " + (" ".join(f"{k}={v}" for k, v in counts.items()) or "none"))
    phases = data.get("phases") if isinstance(data, dict) else None
    if isinstance(phases, dict) and phases:
        parts.append("PHASES " + " ".join(f"{k}={v}" for k, v in sorted(phases.items())))
    events = data.get("events") if isinstance(data, dict) else None
    if isinstance(events, list) and events:
        parts.append("RECENT EVENTS\n" + table(event_rows(events), EVENT_COLUMNS))
    return "\n\n".join(parts) if parts else json.dumps(data, indent=2)


def event_rows(events: list[dict]) -> list[dict]:
    return [{**e, "when": time.strftime("%H:%M:%S", time.localtime(e["time"]))
             if isinstance(e.get("time"), (int, float)) else "-"} for e in events]


def cmd_bench(c: Client, a):
    from orchestrator.loadgen.command import BenchError, UsageError, bench
    try:
        return bench(c, a, BALANCE_ALGORITHMS)
    except UsageError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except BenchError as exc:
        raise CliError(str(exc)) from None


def cmd_events(c: Client, a):
    events = c.call("GET", "/api/events", params={"limit": a.limit})
    return events, table(event_rows(events), EVENT_COLUMNS)


# --- argument parsing ---------------------------------------------------------

class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``cloud:`` line, exit 2."""

    def error(self, message: str):
        raise CliError(f"{message} (see: {self.prog} --help)", EXIT_USAGE)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, not {value}")
    return value


def build_parser() -> Parser:
    # The common options are accepted before or after the command. SUPPRESS
    # keeps a subcommand from overwriting a value given earlier with None.
    common = Parser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--api", help=f"API address (default: $SIMPLECLOUD_API, .simplecloud/api, {DEFAULT_API})")
    common.add_argument("--token", help="API token (default: $SIMPLECLOUD_TOKEN, .simplecloud/token)")
    common.add_argument("--ca", help="CA file for an https API (default: $SIMPLECLOUD_CA, .simplecloud/ca.pem)")
    common.add_argument("--json", action="store_true", help="print the API's JSON answer instead of text")

    p = Parser(prog="cloud", description="Drive a simplecloud cluster through its API.", parents=[common])
    sub = p.add_subparsers(dest="verb", required=True, metavar="COMMAND", parser_class=Parser)

    def add(parent, name, func, help_text):
        sp = parent.add_parser(name, help=help_text, description=help_text, parents=[common])
        sp.set_defaults(func=func)
        return sp

    add(sub, "init", cmd_init, "create the built-in pods light, medium, heavy and their jobs")

    pod = sub.add_parser("pod", help="list, register and remove pods", parents=[common])
    pod_sub = pod.add_subparsers(dest="pod_command", required=True, metavar="ACTION", parser_class=Parser)
    add(pod_sub, "ls", cmd_pod_ls, "list pods with their node usage")
    reg = add(pod_sub, "register", cmd_pod_register, "register a pod on a pod host")
    reg.add_argument("name")
    reg.add_argument("--host", required=True, help="inventory name of the pod host, e.g. pod-light")
    reg.add_argument("--max-nodes", type=_positive)
    reg.add_argument("--cpus", type=float, help="CPU limit per node, e.g. 0.25")
    reg.add_argument("--memory", type=_positive, help="memory limit per node, MiB")
    reg.add_argument("--app", help="default app of `cloud register NODE POD`")
    add(pod_sub, "rm", cmd_pod_rm, "remove an empty pod").add_argument("name")

    sp = add(sub, "register", cmd_register, "register a NEW node in a pod")
    sp.add_argument("node"), sp.add_argument("pod"), sp.add_argument("--app")
    sp = add(sub, "rm", cmd_rm, "remove a node from a pod")
    sp.add_argument("node"), sp.add_argument("pod")
    sp = add(sub, "launch", cmd_launch, "start the oldest NEW node of a pod")
    sp.add_argument("pod")
    _wait_options(sp)
    add(sub, "pause", _bulk("pause"), "drain and pause the ONLINE nodes of a pod").add_argument("pod")
    add(sub, "resume", _bulk("resume"), "bring the PAUSED nodes of a pod back").add_argument("pod")

    app = sub.add_parser("app", help="deploy, scale, stop and list apps", parents=[common])
    app_sub = app.add_subparsers(dest="app_command", required=True, metavar="ACTION", parser_class=Parser)
    dep = add(app_sub, "deploy", cmd_app_deploy, "deploy an app (an image or a command) on a pod")
    dep.add_argument("name")
    what = dep.add_mutually_exclusive_group(required=True)
    what.add_argument("--image")
    what.add_argument("--command", help="program and arguments, run without a shell, e.g. 'nc -lk -p 9000'")
    dep.add_argument("--pod", required=True)
    dep.add_argument("--replicas", type=_positive, required=True)
    dep.add_argument("--port", type=int, required=True, help="port the workers listen on")
    dep.add_argument("--path", help="HAProxy path prefix, e.g. /web")
    dep.add_argument("--host", help="HAProxy Host header")
    dep.add_argument("--balance", choices=BALANCE_ALGORITHMS)
    dep.add_argument("--health-path", help="HTTP health check path (default: TCP check)")
    dep.add_argument("--strip-path", action="store_true",
                     help="remove the --path prefix before forwarding (for apps that serve at /)")
    dep.add_argument("--cpus", type=float, help="CPU limit per node (default: the pod's node size)")
    dep.add_argument("--memory", type=_positive, help="memory limit per node, MiB (default: the pod's)")
    dep.add_argument("--security", choices=SECURITY_PROFILES,
                     help="'relaxed': keep Docker's default capabilities and allow privilege gains "
                          "(default: hardened workers; see docs/api.md)")
    _wait_options(dep)
    sc = add(app_sub, "scale", cmd_app_scale, "set the replica count of an app")
    sc.add_argument("name"), sc.add_argument("replicas", type=_positive)
    _wait_options(sc)
    up = add(app_sub, "update", cmd_app_update,
             "change an app in place: image/command/port/limits roll node by node; "
             "route/balance/health path reload HAProxy")
    up.add_argument("name")
    what = up.add_mutually_exclusive_group()
    what.add_argument("--image")
    what.add_argument("--command", help="program and arguments, run without a shell")
    up.add_argument("--port", type=int)
    up.add_argument("--cpus", type=float)
    up.add_argument("--memory", type=_positive, help="MiB per node")
    up.add_argument("--path")
    up.add_argument("--host")
    up.add_argument("--balance", choices=BALANCE_ALGORITHMS)
    up.add_argument("--health-path")
    up.add_argument("--security", choices=SECURITY_PROFILES, help="worker hardening: default or relaxed")
    strip = up.add_mutually_exclusive_group()
    strip.add_argument("--strip-path", dest="strip_path", action="store_true", default=None)
    strip.add_argument("--no-strip-path", dest="strip_path", action="store_false")
    _wait_options(up)
    add(app_sub, "stop", cmd_app_stop, "stop an app and remove its nodes").add_argument("name")
    add(app_sub, "ls", cmd_app_ls, "list apps")
    auto = add(app_sub, "autoscale", cmd_app_autoscale,
               "let the manager choose an app's replicas within [min, max] (or --off)")
    auto.add_argument("name")
    auto.add_argument("--min", type=int, help="fewest replicas (0 allows --idle-to-zero)")
    auto.add_argument("--max", type=int, help="most replicas")
    auto.add_argument("--rps", type=float, help="target requests/s per node")
    auto.add_argument("--inflight", type=float, help="target requests in progress or queued per node")
    auto.add_argument("--cpu", type=float, help="target CPU, %% of a node's own limit")
    auto.add_argument("--p95-ms", dest="p95_ms", type=float, help="target p95 response time, ms")
    auto.add_argument("--rule", action="append", default=[],
                      help=f"instead of targets: {RULE_WORDS} (repeatable)")
    auto.add_argument("--idle-to-zero", type=float, metavar="SECONDS",
                      help="scale to zero after this long without a request (needs --min 0)")
    auto.add_argument("--window", type=float, metavar="SECONDS",
                      help="scale-down stabilization window (default 300)")
    auto.add_argument("--off", action="store_true", help="stop autoscaling (the replicas stay)")

    node = sub.add_parser("node", help="list nodes, crash one on purpose", parents=[common])
    node_sub = node.add_subparsers(dest="node_command", required=True, metavar="ACTION", parser_class=Parser)
    add(node_sub, "ls", cmd_node_ls, "list nodes, of every pod or of one").add_argument("pod", nargs="?")
    cr = add(node_sub, "crash", cmd_node_crash, "kill a node's container (the controller replaces it)")
    cr.add_argument("node"), cr.add_argument("--pod")

    lg = add(sub, "logs", cmd_logs, "print the last lines of a node's log")
    lg.add_argument("node"), lg.add_argument("--pod"), lg.add_argument("--tail", type=_positive, default=100)
    add(sub, "status", cmd_status, "pods, apps and recent events")
    add(sub, "events", cmd_events, "recent events").add_argument("--limit", type=_positive, default=50)
    _bench_parser(add(sub, "bench", cmd_bench, "open-loop load through HAProxy: Poisson arrivals, "
                      "latency from the scheduled send time (see docs/cli.md)"))
    return p


def _bench_parser(b) -> None:
    b.add_argument("--rate", type=float, required=True, help="requests/s offered (Poisson arrivals)")
    b.add_argument("--duration", type=float, default=10.0, help="seconds of arrivals (default 10)")
    b.add_argument("--path", help="request path, e.g. /light (default /)")
    b.add_argument("--host", help="Host header, for apps routed by host")
    b.add_argument("--url", default="http://127.0.0.1:8080", help="the HAProxy edge (default %(default)s)")
    b.add_argument("--procs", type=int, help="worker processes (default: the number of CPUs)")
    b.add_argument("--connections", type=int, default=32, help="keep-alive connections per process (default 32)")
    b.add_argument("--timeout", type=float, default=10.0, help="seconds a request may take (default 10)")
    b.add_argument("--max-lag", type=float, default=0.25, dest="max_lag",
                   help="an arrival the generator reaches this many s late is counted 'late', not sent")
    b.add_argument("--seed", type=int, help="seed of the arrival times (default: random; printed)")
    b.add_argument("--out", metavar="DIR", help="write results.json, samples.csv and PNG plots there")
    b.add_argument("--app", help="the app behind the route (default: found from --path/--host)")
    b.add_argument("--compare-balance", metavar="ALGO,ALGO,...",
                   help=f"the same load under each balance algorithm ({', '.join(BALANCE_ALGORITHMS)})")
    b.add_argument("--reload-timeout", type=float, default=60.0, dest="reload_timeout",
                   help="seconds to wait for HAProxy to reload with a balance (default 60)")


def _wait_options(parser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="block until the nodes serve through HAProxy (exit 4 if they do not in time)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_WAIT,
                        help=f"seconds --wait waits at most (default {DEFAULT_WAIT:g})")


def main(argv: list[str] | None = None, environ=None) -> int:
    """Entry point of ``cloud``; returns the exit code (see module docstring)."""
    try:
        args = build_parser().parse_args(argv)
        args.json = getattr(args, "json", False)
        api = resolve(getattr(args, "api", None), "SIMPLECLOUD_API", "api", DEFAULT_API, environ)
        token = resolve(getattr(args, "token", None), "SIMPLECLOUD_TOKEN", "token", None, environ)
        data, text = args.func(Client(api, token, ca=resolve_ca(getattr(args, "ca", None), environ)), args)
    except CliError as exc:
        print(f"cloud: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("cloud: interrupted", file=sys.stderr)
        return 130
    try:
        if args.json:
            print(json.dumps(data, indent=2))
        elif text:
            print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `cloud ... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 130 if args.verb == "bench" and data.get("interrupted") else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
