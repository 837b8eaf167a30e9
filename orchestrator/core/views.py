"""What the API shows of pods, apps and nodes: views over what was read (pure).

The use cases read the records once (pods, apps, nodes, observed records,
host states, autoscale policies) and turn them into the JSON-ready dicts the
API answers with, here, with no further read:

* ``pod_view``: a pod with ``used``, ``free`` and ``capacity`` (over its
  hosts, core/placement.py), node counts by status and by phase, and its
  hosts' reachability;
* ``host_view``: a host with its pods, capacity, load, nodes, reachability
  and the CPU its serving workers use;
* ``app_view``: an app with its replicas, phases, how many nodes serve its
  *current* spec and how many still run an older one;
* ``node_view``: a node with what the controller last saw of it;
* ``autoscale_view``: a policy, in words, with the autoscaler's last decision;
* ``host_warnings``: one sentence per host that does not answer.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator.core import observed as observed_views
from orchestrator.core.autoscale import summary
from orchestrator.core.model import App, Host, Node, NodeStatus, Pod, spec_generation
from orchestrator.core.placement import Resources
from orchestrator.core.pools import node_size, pool_of, unreachable_since
from orchestrator.core.schema import Autoscale

Observed = Mapping[tuple[str, str], dict[str, Any]]
"""(pod, node) → the controller's observed record of it."""


def observed_of(node: Node, observed: Observed) -> dict[str, Any] | None:
    return observed_views.current(observed.get((node.pod, node.name)), node)


def node_view(node: Node, observed: Observed) -> dict[str, Any]:
    view = observed_of(node, observed)
    if view is not None:
        view = {k: v for k, v in view.items() if k not in ("health", "node_created")}
    return {**node.to_dict(), "observed": view}


def by_status(nodes: Iterable[Node]) -> dict[str, int]:
    counts = Counter(str(n.status) for n in nodes)
    return {s.value: counts[s.value] for s in NodeStatus if counts[s.value]}


def by_phase(nodes: Iterable[Node], observed: Observed) -> dict[str, int]:
    counts = Counter((observed_of(n, observed) or {}).get("phase", "unknown") for n in nodes)
    return dict(sorted(counts.items()))


Links = Mapping[str, dict[str, Any]]
"""host → its link's state (``links/<host>``: reachable, since, error, rtt_ms)."""


def pod_view(pod: Pod, all_nodes: Sequence[Node], links: Links | None = None,
             observed: Observed | None = None, hosts: Mapping[str, Host] | None = None,
             loads: Mapping[str, Resources] | None = None) -> dict[str, Any]:
    """A pod with ``used`` (its nodes), ``capacity`` (its nodes the known
    hosts could hold, each host's own limit and capacity counted),
    ``free`` (how many more fit now on the hosts that take nodes), counts by
    status and phase, ``pending`` (nodes waiting for room) and ``host_states``."""
    nodes = [n for n in all_nodes if n.pod == pod.name]
    hosts = hosts or {}
    pool = pool_of(pod, hosts, loads or {}, nodes, set(unreachable_since(links or {})))
    capacity = sum(min(pod.max_nodes, hosts[h].nodes) for h in pod.hosts if h in hosts)
    return {**pod.to_dict(), "used": len(nodes), "free": pool.free_nodes(node_size(pod)),
            "capacity": capacity, "statuses": by_status(nodes), "phases": by_phase(nodes, observed or {}),
            "pending": sum(1 for n in nodes if n.pending),
            "host_states": {h: (links or {}).get(h) for h in pod.hosts}}


def pod_views(pods: Sequence[Pod], nodes: Sequence[Node], links: Links, observed: Observed,
              hosts: Mapping[str, Host], loads: Mapping[str, Resources]) -> list[dict[str, Any]]:
    return [pod_view(p, nodes, links, observed, hosts, loads) for p in pods]


def host_view(host: Host, pods: Sequence[Pod], nodes: Sequence[Node], links: Links,
              loads: Mapping[str, Resources], cpu_used: Mapping[str, float] | None = None) -> dict[str, Any]:
    """A host with its pods (``lent_to``: those it is lent to by the autoscaler;
    ``spare``: in none), capacity, ``used`` (what its nodes take, all pods),
    its nodes by pod, pending ones, its link, and ``cpu_used`` (CPUs its
    serving workers used lately, from the sampler; None when not sampled) with
    ``cpu_percent`` of its capacity."""
    mine = [n for n in nodes if n.host == host.name]
    in_pods = [p.name for p in pods if host.name in p.hosts]
    used = cpu_used.get(host.name) if cpu_used is not None else None
    return {**host.to_dict(), "pods": in_pods, "lent_to": [p.name for p in pods if host.name in p.lent],
            "spare": not in_pods, "used": loads.get(host.name, Resources()).to_dict(),
            "nodes": len(mine), "nodes_by_pod": dict(sorted(Counter(n.pod for n in mine).items())),
            "pending": sum(1 for n in mine if n.pending), "link": links.get(host.name),
            "cpu_used": None if used is None else round(used, 3),
            "cpu_percent": None if used is None or not host.cpus else round(100.0 * used / host.cpus, 1)}


def app_view(app: App, all_nodes: Sequence[Node], observed: Observed | None = None,
             pods: Sequence[Pod] = ()) -> dict[str, Any]:
    """An app with its replicas (its nodes not warm), its warm pool
    (``warm_nodes``; ``warm_ready``: those seen warm and healthy) and, from
    the observed records: phases, how many nodes serve its *current* spec (its
    pod is among ``pods``), and how many still run an older one."""
    nodes = [n for n in all_nodes if n.app == app.name and n.pod == app.pod]
    live = [n for n in nodes if n.status != NodeStatus.REMOVED]
    views = [observed_of(n, observed or {}) or {} for n in live]
    pod = next((p for p in pods if p.name == app.pod), None)
    gen = spec_generation(app, pod) if pod is not None else None
    current = [v for v in views if v.get("gen") == gen and not v.get("updating")]
    warm = [n for n in live if n.warm]
    return {**app.to_dict(), "replicas": len(live) - len(warm), "warm_nodes": len(warm),
            "warm_ready": sum(1 for n in warm if (observed_of(n, observed or {}) or {}).get("phase") == "warm"),
            "statuses": by_status(nodes),
            "phases": by_phase(live, observed or {}),
            "serving": sum(1 for v in current if v.get("phase") == "serving"),
            "updating": len(views) - len(current)}


def autoscale_view(policy: Autoscale, memory: dict[str, Any] | None) -> dict[str, Any]:
    """{"policy" (the API's JSON form), "summary", "last" (the autoscaler's last decision)}."""
    return {"policy": policy.model_dump(exclude_none=True), "summary": summary(policy),
            "last": (memory or {}).get("last")}


def host_warnings(pods: Sequence[Pod], nodes: Sequence[Node], links: Links) -> list[str]:
    """One plain sentence per host of a pod that does not answer."""
    out = []
    for host, state in sorted(links.items()):
        if state.get("reachable", True):
            continue
        mine = [p.name for p in pods if host in p.hosts]
        if not mine:
            continue
        count = sum(1 for n in nodes if n.host == host)
        since = time.strftime("%H:%M:%S", time.localtime(state.get("since") or 0))
        out.append(f"host {host} is unreachable since {since} ({state.get('error') or 'no answer'}): "
                   f"its {count} node(s) of pod(s) {', '.join(mine)} are not managed until it answers "
                   f"again or, after the grace period, are placed on the pods' other hosts; their last "
                   f"known state is shown, and the other hosts work as usual")
    return out


ETCD_FULL_WARNING = 0.8
"""A warning once etcd's database is past this share of its quota."""


def etcd_warnings(health: Mapping[str, Any]) -> list[str]:
    """One plain sentence per thing wrong with etcd itself: an alarm, or its
    database past ``ETCD_FULL_WARNING`` of its quota (``Store.health()``)."""
    out = []
    size, quota = health.get("db_bytes") or 0, health.get("quota_bytes")
    mib = f"{size / 2 ** 20:.0f} MiB" + (f" of its {quota / 2 ** 20:.0f} MiB quota" if quota else "")
    if "NOSPACE" in (health.get("alarms") or []):
        out.append(f"etcd is out of space (NOSPACE alarm, database {mib}): it refuses every change "
                   "(deploy, scale, healing) until an operator compacts, defragments and disarms it "
                   "(docs/lab.md, 'etcd is full')")
    elif quota and size >= ETCD_FULL_WARNING * quota:
        out.append(f"etcd's database is {mib} ({size / quota:.0%}): at 100 % it refuses every change; "
                   "compact and defragment it soon (docs/lab.md, 'etcd is full')")
    out += [f"etcd raised its {name} alarm; see etcdctl alarm list" for name in health.get("alarms") or []
            if name != "NOSPACE"]
    return out
