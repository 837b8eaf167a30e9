"""``cloud pod ls|register|rm`` and the seed verbs on a pod's nodes: ``launch``, ``pause``, ``resume``."""
from __future__ import annotations

from orchestrator.cli.client import Client, q
from orchestrator.cli.tables import POD_COLUMNS, cell, names, plural, pod_rows, table
from orchestrator.cli.wait import node_serving, progress, wait_for


def cmd_pod_ls(c: Client, a):
    pods = c.call("GET", "/api/pods")
    return pods, table(pod_rows(pods), POD_COLUMNS)


def cmd_pod_register(c: Client, a):
    body = {"name": a.name, "hosts": a.hosts, "max_nodes": a.max_nodes, "cpus": a.cpus,
            "memory_mb": a.memory, "app": a.app}
    pod = c.call("POST", "/api/pods", {k: v for k, v in body.items() if v is not None})
    return pod, (f"pod '{a.name}' registered on host(s) {', '.join(pod.get('hosts') or a.hosts)}: up to "
                 f"{cell(pod.get('max_nodes'))} nodes of {cell(pod.get('cpus'))} CPU / "
                 f"{cell(pod.get('memory_mb'))} MiB on each")


def cmd_pod_rm(c: Client, a):
    return c.call("DELETE", f"/api/pods/{q(a.name)}"), f"pod '{a.name}' removed"


def cmd_launch(c: Client, a):
    node = c.call("POST", f"/api/pods/{q(a.pod)}/launch")
    text = f"node '{node.get('name', '?')}' of pod '{a.pod}' is now {node.get('status', 'ONLINE')}"
    if a.wait:
        progress(text)
        wait_for(lambda: node_serving(c, a.pod, node.get("name")), a.timeout,
                 f"node {node.get('name')} of pod {a.pod}")
        text = f"node '{node.get('name', '?')}' of pod '{a.pod}' serves"
    return node, text


def bulk(verb: str):
    def command(c: Client, a):
        nodes = c.call("POST", f"/api/pods/{q(a.pod)}/{q(verb)}")
        nodes = nodes if isinstance(nodes, list) else nodes.get("nodes", []) if isinstance(nodes, dict) else []
        past = {"pause": "paused", "resume": "resumed"}[verb]
        return nodes, f"pod '{a.pod}': {plural(len(nodes), 'node')} {past}" + (
            f" ({names(nodes)})" if nodes else "")
    return command
