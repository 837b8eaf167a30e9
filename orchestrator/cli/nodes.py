"""``cloud register``, ``cloud rm``, ``cloud node ls|crash``, ``cloud logs``."""
from __future__ import annotations

from orchestrator.cli.client import Client, CliError, q
from orchestrator.cli.tables import NODE_COLUMNS, cell, node_rows, table


def cmd_register(c: Client, a):
    body = {"name": a.node, "pod": a.pod, **({"app": a.app} if a.app else {})}
    node = c.call("POST", "/api/nodes", body)
    return node, (f"node '{a.node}' registered in pod '{a.pod}' (app {cell(node.get('app'))}, "
                  f"status {node.get('status', 'NEW')}); start it with: cloud launch {a.pod}")


def cmd_rm(c: Client, a):
    return c.call("DELETE", f"/api/pods/{q(a.pod)}/nodes/{q(a.node)}"), f"node '{a.node}' of pod '{a.pod}' removed"


def cmd_node_ls(c: Client, a):
    nodes = c.call("GET", "/api/nodes", params={"pod": a.pod} if a.pod else None)
    return nodes, table(node_rows(nodes), NODE_COLUMNS)


def cmd_node_crash(c: Client, a):
    pod = a.pod or pod_of(c, a.node)
    data = c.call("POST", f"/api/pods/{q(pod)}/nodes/{q(a.node)}/crash")
    return data, (f"node '{a.node}' of pod '{pod}': container {data.get('container', '?')} killed; "
                  "the controller replaces it (see: cloud node ls)")


def cmd_logs(c: Client, a):
    pod = a.pod or pod_of(c, a.node)
    data = c.call("GET", f"/api/pods/{q(pod)}/nodes/{q(a.node)}/logs", params={"tail": a.tail})
    lines = data.get("lines", data.get("logs", "")) if isinstance(data, dict) else data
    return data, "\n".join(lines) if isinstance(lines, list) else str(lines).rstrip("\n")


def pod_of(c: Client, node: str) -> str:
    pods = sorted({n["pod"] for n in c.call("GET", "/api/nodes") if n.get("name") == node})
    if not pods:
        raise CliError(f"no node named '{node}' in any pod; see: cloud node ls")
    if len(pods) > 1:
        raise CliError(f"node '{node}' exists in pods {', '.join(pods)}; choose one with --pod")
    return pods[0]
