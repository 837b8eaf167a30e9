"""``cloud host ls|add|drain|rm``: the hosts workers run on, and the pods' pools of them."""
from __future__ import annotations

from orchestrator.cli.client import EXIT_WAIT, Client, CliError, q
from orchestrator.cli.tables import cell, host_reach, plural, table
from orchestrator.cli.wait import progress, wait_for

HOST_COLUMNS = [("NAME", "name"), ("PODS", "pods"), ("CAPACITY", "capacity"), ("USED", "used"),
                ("NODES", "nodes"), ("REACH", "reach"), ("CPU", "cpu"), ("STATE", "state"),
                ("ADDRESS", "address")]


def host_rows(hosts: list[dict]) -> list[dict]:
    rows = []
    for h in hosts:
        cap, used = h.get("capacity") or {}, h.get("used") or {}
        pods = ", ".join(p + (" (lent)" if p in (h.get("lent_to") or []) else "") for p in h.get("pods") or [])
        state = "draining" if h.get("draining") else "spare" if h.get("spare") else "in use"
        pending = f", {h['pending']} pending" if h.get("pending") else ""
        rows.append({**h, "pods": pods or "-", "state": state, "reach": host_reach(h.get("link")),
                     "capacity": f"{cell(cap.get('nodes'))} nodes / {cell(cap.get('cpus'))} CPU / "
                                 f"{cell(cap.get('memory_mb'))} MiB",
                     "used": f"{cell(used.get('nodes', 0))} / {cell(used.get('cpus', 0))} CPU / "
                             f"{cell(used.get('memory_mb', 0))} MiB",
                     "nodes": f"{h.get('nodes', 0)}{pending}",
                     "cpu": "-" if h.get("cpu_percent") is None else f"{h['cpu_percent']:g} %"})
    return rows


def cmd_host_ls(c: Client, a):
    hosts = c.call("GET", "/api/hosts")
    note = ("CPU: what the serving workers used over the last 10 s (the sampler's cgroup readings), "
            "% of the host's CPU capacity; '-' where it was not sampled")
    return hosts, table(host_rows(hosts), HOST_COLUMNS) + "\n" + note


def cmd_host_add(c: Client, a):
    host = c.call("POST", f"/api/hosts/{q(a.host)}/pod", {"pod": a.pod})
    cap = host.get("capacity") or {}
    return host, (f"host '{a.host}' is a host of pod '{a.pod}' ({cell(cap.get('nodes'))} node slots, "
                  f"{cell(cap.get('cpus'))} CPUs, shared by its pods: {', '.join(host.get('pods') or [])})")


def cmd_host_drain(c: Client, a):
    host = c.call("POST", f"/api/hosts/{q(a.host)}/drain")
    text = f"host '{a.host}' is draining: its {plural(host.get('nodes', 0), 'node')} move to other hosts"
    if a.no_wait:
        return host, text + " (see: cloud host ls)"
    progress(text)
    wait_for(lambda: drained(c, a.host), a.timeout, f"host {a.host} to drain", interval=0.5)
    return c.call("GET", "/api/hosts"), f"host '{a.host}' is drained: its nodes serve on other hosts"


def cmd_host_rm(c: Client, a):
    host = find(c, a.host)
    pods = host.get("pods") or []
    if a.pod is None and len(pods) > 1:
        raise CliError(f"host '{a.host}' is in pods {', '.join(pods)}; name the one it leaves with --pod")
    if host.get("nodes"):
        if a.no_wait:
            raise CliError(f"host '{a.host}' still has {plural(host['nodes'], 'node')}; drain it first "
                           f"(cloud host drain {a.host}) or leave out --no-wait")
        progress(f"host '{a.host}' still has {plural(host['nodes'], 'node')}: draining it first")
        c.call("POST", f"/api/hosts/{q(a.host)}/drain")
        wait_for(lambda: drained(c, a.host), a.timeout, f"host {a.host} to drain", interval=0.5)
    params = {"pod": a.pod} if a.pod else None
    done = c.call("DELETE", f"/api/hosts/{q(a.host)}/pod", params=params)
    left = a.pod or (pods[0] if pods else "?")
    return done, f"host '{a.host}' left pod '{left}'" + ("; it is a spare again" if done.get("spare") else "")


def find(c: Client, name: str) -> dict:
    hosts = c.call("GET", "/api/hosts")
    for h in hosts:
        if h.get("name") == name:
            return h
    known = ", ".join(sorted(str(h.get("name")) for h in hosts)) or "none"
    raise CliError(f"host '{name}' is not known; the known hosts are {known}")


def drained(c: Client, name: str) -> tuple[bool, str]:
    """Whether no node is placed on the host any more and every node that moved
    from it serves on its new host; CliError (exit 4) when the ones left all
    wait for room (nothing will change until there is some)."""
    nodes = c.call("GET", "/api/nodes")
    left = [n for n in nodes if n.get("host") == name]
    moved = [n for n in nodes if n.get("moved_from") == name and n.get("host") != name]
    serving = [n for n in moved if (n.get("observed") or {}).get("phase") == "serving"
               and (n.get("observed") or {}).get("host") == n.get("host")]
    if left and all(n.get("pending") for n in left):
        raise CliError(f"{plural(len(left), 'node')} cannot leave host {name}: {left[0]['pending']}", EXIT_WAIT)
    text = f"{len(serving)} of {len(moved) + len(left)} node(s) serve on other hosts"
    if left:
        text += f", {len(left)} still on {name}"
    return not left and len(serving) == len(moved), text
