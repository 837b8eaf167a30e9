"""``cloud app deploy|scale|update|autoscale|stop|ls``."""
from __future__ import annotations

import shlex

from orchestrator.cli.client import EXIT_USAGE, Client, CliError, q
from orchestrator.cli.tables import APP_COLUMNS, app_rows, plural, table
from orchestrator.cli.wait import maybe_wait


def cmd_app_deploy(c: Client, a):
    spec = {"name": a.name, "pod": a.pod, "replicas": a.replicas, "port": a.port, "path": a.path,
            "host": a.host, "balance": a.balance, "health_path": a.health_path,
            "strip_path": True if a.strip_path else None, "security": a.security, "warm": a.warm}
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
    warm = f" and {app['warm']} warm" if app.get("warm") else ""
    text = f"app '{a.name}' deployed in pod '{a.pod}': {plural(replicas, 'replica')}{warm}, route {route}"
    return app, maybe_wait(c, a, text, replicas)


def cmd_app_scale(c: Client, a):
    sign, number = a.replicas
    wanted = number
    if sign:                                    # relative: to what the app has now
        now = c.call("GET", f"/api/apps/{q(a.name)}").get("replicas", 0)
        wanted = max(0, now + number if sign == "+" else now - number)
    app = c.call("PUT", f"/api/apps/{q(a.name)}/scale", {"replicas": wanted})
    text = f"app '{a.name}' scaled to {plural(app.get('replicas', wanted), 'replica')}"
    if app.get("note"):
        text = f"{app['note']}\n{text}"
    return app, maybe_wait(c, a, text, app.get("replicas", wanted))


def cmd_app_autoscale(c: Client, a):
    if a.off:
        if a.min is not None or a.max is not None or a.rule or any(
                getattr(a, m) is not None for m in ("rps", "inflight", "cpu", "p95_ms")):
            raise CliError("--off takes no other option", EXIT_USAGE)
        app = c.call("DELETE", f"/api/apps/{q(a.name)}/autoscale")
        return app, f"app '{a.name}' no longer autoscales; it keeps {plural(app.get('replicas', 0), 'replica')}"
    if a.min is None or a.max is None:
        raise CliError("give --min and --max (or --off)", EXIT_USAGE)
    policy = {"min": a.min, "max": a.max, "rps": a.rps, "inflight": a.inflight, "cpu": a.cpu,
              "p95_ms": a.p95_ms, "idle_to_zero_s": a.idle_to_zero, "scale_down_window_s": a.window,
              "rules": [parse_rule(r) for r in a.rule] or None}
    app = c.call("PUT", f"/api/apps/{q(a.name)}/autoscale", {k: v for k, v in policy.items() if v is not None})
    return app, f"app '{a.name}' autoscales: {(app.get('autoscale') or {}).get('summary', 'on')}"


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


def cmd_app_update(c: Client, a):
    changes = {"image": a.image, "port": a.port, "cpus": a.cpus, "memory_mb": a.memory,
               "path": a.path or None, "host": a.host or None, "balance": a.balance,
               "health_path": a.health_path, "strip_path": a.strip_path, "security": a.security,
               "warm": a.warm}
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
                       "--memory, --path, --host, --balance, --health-path, --strip-path, --security, --warm",
                       EXIT_USAGE)
    app = c.call("PATCH", f"/api/apps/{q(a.name)}", changes)
    changed = app.get("changed") or []
    text = (f"app '{a.name}' updated: {', '.join(changed)}" if changed
            else f"app '{a.name}' already has these settings: nothing to do")
    return app, maybe_wait(c, a, text)


def cmd_app_stop(c: Client, a):
    return c.call("DELETE", f"/api/apps/{q(a.name)}"), f"app '{a.name}' stopped"


def cmd_app_ls(c: Client, a):
    apps = c.call("GET", "/api/apps")
    return apps, table(app_rows(apps), APP_COLUMNS)
