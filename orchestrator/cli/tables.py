"""What the CLI prints: aligned tables of pods, nodes, apps and events, and the status summary."""
from __future__ import annotations

import json
import shlex
import time


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Aligned text table; ``columns`` is [(HEADER, key), ...]."""
    cells = [[header for header, _ in columns]]
    cells += [[cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def cell(value) -> str:
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


def statuses(item: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in (item.get("statuses") or {}).items())


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def names(items) -> str:
    return ", ".join(str(i.get("name", "?")) if isinstance(i, dict) else str(i) for i in items) or "none"


def app_rows(apps: list[dict]) -> list[dict]:
    rows = []
    for a in apps:
        route = " ".join(x for x in (a.get("host"), a.get("path")) if x)
        rows.append({**a, "run": a.get("image") or a.get("command"), "route": route,
                     "statuses": statuses(a), "autoscale": autoscale_cell(a.get("autoscale")),
                     "warm_cell": warm_cell(a)})
    return rows


def warm_cell(app: dict) -> str:
    """An app's warm pool: "ready/wanted" (warm nodes started and healthy, its
    warm setting), with the nodes still starting; "-" with no pool."""
    wanted, nodes, ready = app.get("warm") or 0, app.get("warm_nodes") or 0, app.get("warm_ready") or 0
    if not wanted and not nodes:
        return "-"
    return f"{ready}/{wanted}" + (f" ({nodes - ready} starting)" if nodes > ready else "")


def autoscale_cell(autoscale: dict | None) -> str:
    """An app's policy and its metrics now against the targets, e.g.
    "1..10, rps 20/node; now rps 41.2/20" ('-' when not autoscaled)."""
    if not autoscale:
        return "-"
    last = autoscale.get("last") or {}
    now = [f"{m} {'?' if v is None else format(v, '.3g')}/{t:g}"
           for m, (v, t) in (last.get("metrics") or {}).items()]
    return autoscale.get("summary", "on") + (f"; now {', '.join(now)}" if now else "")


def node_rows(nodes: list[dict], now: float | None = None) -> list[dict]:
    """Nodes with what was observed of them: phase, health, host, IP, restarts."""
    rows = []
    for n in nodes:
        o = n.get("observed") or {}
        healthy = o.get("healthy")
        phase = o.get("phase") or "-"
        if n.get("warm") and phase != "warm":
            phase += " (warm)"
        elif phase == "warm" and o.get("container") == "paused":
            phase += " (paused)"
        if o.get("updating"):
            phase += " (updating)"
        if phase.startswith("backoff") and isinstance(o.get("retry_at"), (int, float)):
            phase += f" (retry in {max(0, int(o['retry_at'] - (now or time.time())))}s)"
        host = n.get("host") or o.get("host")
        if n.get("moved_from") and n.get("moved_from") != host:
            host = f"{host} (from {n['moved_from']})"
        rows.append({**n, "age": age(n.get("created")), "phase": phase,
                     "health": "-" if healthy is None else "up" if healthy else "down",
                     "host": host, "ip": o.get("ip"), "restarts": o.get("restarts", 0),
                     "since": age(o.get("since"), now), "error": o.get("last_error") or o.get("host_error"),
                     "pending": n.get("pending")})
    return rows


def pod_rows(pods: list[dict], now: float | None = None) -> list[dict]:
    """Pods as the API lists them (with ``used`` and ``statuses``), ready for a table."""
    return [{**p, "nodes": f"{p.get('used', '?')}/{p.get('capacity', p.get('max_nodes'))}"
                           + (f" ({p['pending']} pending)" if p.get("pending") else ""),
             "hosts": ", ".join(p.get("hosts") or []), "per_host": p.get("max_nodes"),
             "memory": f"{p.get('memory_mb')} MiB", "statuses": statuses(p),
             "reach": hosts_reach(p.get("host_states"), now)} for p in pods]


def hosts_reach(states: dict | None, now: float | None = None) -> str:
    """"reachable" when every host of a pod answers, else the ones that do not."""
    if not states:
        return "-"
    down = [f"{h} {host_reach(s, now)}" for h, s in sorted(states.items()) if s and not s.get("reachable")]
    if down:
        return "; ".join(down)
    return "reachable" if all(states.values()) else "-"


def host_reach(state: dict | None, now: float | None = None) -> str:
    """"reachable", or "UNREACHABLE 42s" with the time since it went away."""
    if not state:
        return "-"
    if state.get("reachable"):
        return "reachable"
    return f"UNREACHABLE {age(state.get('since'), now)}"


POD_COLUMNS = [("NAME", "name"), ("HOSTS", "hosts"), ("REACH", "reach"), ("NODES", "nodes"),
               ("PER HOST", "per_host"), ("CPUS", "cpus"), ("MEMORY", "memory"), ("APP", "app"),
               ("STATUS", "statuses")]


NODE_COLUMNS = [("NAME", "name"), ("POD", "pod"), ("APP", "app"), ("STATUS", "status"),
                ("PHASE", "phase"), ("HEALTH", "health"), ("HOST", "host"), ("IP", "ip"),
                ("RESTARTS", "restarts"), ("SINCE", "since"), ("AGE", "age"), ("PENDING", "pending"),
                ("LAST ERROR", "error")]


APP_COLUMNS = [("NAME", "name"), ("POD", "pod"), ("REPLICAS", "replicas"), ("SERVING", "serving"),
               ("WARM", "warm_cell"), ("PORT", "port"), ("ROUTE", "route"), ("BALANCE", "balance"),
               ("STATUS", "statuses"), ("AUTOSCALE", "autoscale"), ("RUNS", "run")]


EVENT_COLUMNS = [("TIME", "when"), ("KIND", "kind"), ("SUBJECT", "subject"), ("MESSAGE", "message")]


def event_rows(events: list[dict]) -> list[dict]:
    return [{**e, "when": time.strftime("%H:%M:%S", time.localtime(e["time"]))
             if isinstance(e.get("time"), (int, float)) else "-"} for e in events]


def format_status(data: dict) -> str:
    """Human summary of /api/status: pods, apps, then recent events."""
    parts = []
    leader = data.get("leader") if isinstance(data, dict) else None
    if isinstance(leader, dict):
        parts.append(f"LEADER {leader.get('name')} (epoch {leader.get('epoch')}, for {age(leader.get('since'))})")
    elif isinstance(data, dict) and "leader" in data:
        parts.append("LEADER none right now (an election is under way, or etcd has no quorum)")
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
