"""``cloud manager ls``: the managers, the leader, the virtual IP, the etcd members."""
from __future__ import annotations

from orchestrator.cli.client import Client
from orchestrator.cli.tables import age, table

MANAGER_COLUMNS = [("NAME", "name"), ("ROLE", "role"), ("EPOCH", "epoch"), ("SINCE", "since"),
                   ("VIP", "vip"), ("REACH", "reach")]
MEMBER_COLUMNS = [("ETCD MEMBER", "name"), ("HEALTH", "health"), ("ETCD LEADER", "leader"), ("DB", "db"),
                  ("CLIENT URL", "url")]


def cmd_manager_ls(c: Client, a):
    data = c.call("GET", "/api/managers")
    return data, format_managers(data)


def format_managers(data: dict) -> str:
    leader = data.get("leader") or {}
    rows = []
    for m in data.get("managers") or []:
        leads = m.get("leader")
        rows.append({"name": m.get("name"), "role": "leader" if leads else "follower",
                     "epoch": leader.get("epoch") if leads else "-",
                     "since": age(leader.get("since")) if leads else "-",
                     "vip": "holds" if m.get("holds_vip") else "-",
                     "reach": "ok" if m.get("reachable") else "no answer"})
    etcd = data.get("etcd") or {}
    members = [{"name": m.get("name"), "health": "healthy" if m.get("healthy") else "unhealthy",
                "leader": "yes" if m.get("leader") else "-",
                "db": _bytes(m.get("db_size_bytes")), "url": ", ".join(m.get("client_urls") or [])}
               for m in etcd.get("members") or []]
    vip = data.get("vip") or {}
    lines = [table(rows, MANAGER_COLUMNS)]
    if not leader:
        lines.append("no leader right now (an election is under way, or etcd has no quorum)")
    if vip.get("address"):
        holders = vip.get("holders") or []
        where = holders[0] if len(holders) == 1 else ("nobody" if not holders else "several: " + ", ".join(holders))
        lines.append(f"virtual IP {vip['address']}: held by {where}")
    lines.append("")
    lines.append(table(members, MEMBER_COLUMNS) if members else
                 f"etcd members: unknown ({etcd.get('error') or 'no answer'})")
    lines.append(f"etcd: {etcd.get('healthy', 0)} of {len(members)} members healthy")
    return "\n".join(lines)


def _bytes(n) -> str:
    if not isinstance(n, int):
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "-"
