"""What a Docker engine and a container's cgroup files answer, parsed (pure):
``docker stats`` samples, the cgroup files read with ``cat``, the CPU time of
many containers read in one command over the link, exit codes and times of
a listing, and a container listed or inspected. edges/docker_host.py does the calls."""
from __future__ import annotations

import re
from datetime import UTC, datetime

from orchestrator.core.model import Container

# The labels every container we make carries (edges/docker_host.py lists by them).
LABEL_MANAGED = "simplecloud.managed"
LABEL_POD = "simplecloud.pod"
LABEL_NODE = "simplecloud.node"
LABEL_APP = "simplecloud.app"
LABEL_GEN = "simplecloud.gen"
LABEL_EPOCH = "simplecloud.epoch"       # the leader's epoch that made it (edges/election.py)
LABEL_HOST = "simplecloud.host"         # the host it was made for (engines may be shared: tests, a lone machine)


def stats_from_raw(raw: dict) -> dict[str, float]:
    """CPU % and memory from one raw Docker stats sample (pure).

    CPU % is computed the way ``docker stats`` does: the container's share of
    the host's CPU time between the two samples in ``raw``, times the number
    of online CPUs, so 100 means one full CPU.
    """
    cpu, pre = raw.get("cpu_stats") or {}, raw.get("precpu_stats") or {}
    cpu_delta = ((cpu.get("cpu_usage") or {}).get("total_usage", 0)
                 - (pre.get("cpu_usage") or {}).get("total_usage", 0))
    sys_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_percent = (cpu_delta / sys_delta) * online * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = raw.get("memory_stats") or {}
    detail = mem.get("stats") or {}
    cache = detail.get("total_inactive_file", detail.get("inactive_file", detail.get("cache", 0)))
    return {"cpu_percent": round(cpu_percent, 2),
            "mem_bytes": max(0, mem.get("usage", 0) - cache),
            "mem_limit": mem.get("limit", 0)}


CGROUP_V1_FILES = ("/sys/fs/cgroup/memory/memory.usage_in_bytes",
                    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                    "/sys/fs/cgroup/cpuacct/cpuacct.usage",
                    "/sys/fs/cgroup/memory/memory.stat")


CGROUP_V2_FILES = ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.max",
                    "/sys/fs/cgroup/cpu.stat", "/sys/fs/cgroup/memory.stat")


CPU_SCRIPT = """for id in IDS; do
  for f in /sys/fs/cgroup/cpuacct/docker/$id*/cpuacct.usage /sys/fs/cgroup/cpu,cpuacct/docker/$id*/cpuacct.usage \\
           /sys/fs/cgroup/cpuacct/system.slice/docker-$id*.scope/cpuacct.usage; do
    if [ -r "$f" ]; then echo "$id ns $(cat "$f")"; continue 2; fi
  done
  for f in /sys/fs/cgroup/system.slice/docker-$id*.scope/cpu.stat /sys/fs/cgroup/docker/$id*/cpu.stat; do
    if [ -r "$f" ]; then echo "$id us $(sed -n 's/^usage_usec //p' "$f")"; continue 2; fi
  done
done"""
"""Prints "<id> ns <n>" (v1) or "<id> us <n>" (v2) per container found; ``$id*``
lets an id be a prefix (the shell keeps a pattern that matches nothing as is,
and ``-r`` then fails)."""


def parse_cpu_usage(text: str) -> dict[str, int]:
    """"<id> ns <n>" / "<id> us <n>" lines -> {id: nanoseconds} (pure)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            out[parts[0]] = int(parts[2]) * (1000 if parts[1] == "us" else 1)
    return out


def parse_cgroup_dump(text: str, files: tuple[str, ...]) -> dict[str, int]:
    """Parse ``cat`` of the four cgroup files (v1 or v2 layout) into
    mem_usage, mem_limit, cpu_ns and mem_inactive (pure)."""
    lines = text.split("\n")
    usage, limit = int(lines[0]), lines[1].strip()
    mem_limit = 0 if limit == "max" else int(limit)
    pairs = {}
    for line in lines[2:]:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            pairs[parts[0]] = int(parts[1])
    if files is CGROUP_V1_FILES:
        cpu_ns = int(lines[2])
    else:
        cpu_ns = pairs.get("usage_usec", 0) * 1000
    inactive = pairs.get("total_inactive_file", pairs.get("inactive_file", 0))
    if mem_limit >= 1 << 62:        # v1 "unlimited"
        mem_limit = 0
    return {"mem_usage": usage, "mem_limit": mem_limit, "cpu_ns": cpu_ns, "mem_inactive": inactive}


_EXITED = re.compile(r"^Exited \((-?\d+)\)")


def listed_exit_code(status: str) -> int | None:
    """Exit code from a listing's status text, e.g. "Exited (137) 3 seconds ago"."""
    m = _EXITED.match(status)
    return int(m.group(1)) if m else None


def iso_time(text: str) -> float:
    """Docker's "2026-11-23T11:31:57.123456789Z" as Unix time (0.0 if unreadable)."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?", text or "")
    if not m:
        return 0.0
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return base.timestamp() + float("0" + (m.group(2) or ".0")[:7])


def container_of(attrs: dict, network: str) -> Container:
    """A Container from a listing entry or from a full inspect; its IP is the
    one on ``network`` (the workers' network), and only while it runs."""
    if "Names" in attrs:  # a sparse listing (one API call for all containers)
        labels, state = attrs.get("Labels") or {}, attrs.get("State") or "unknown"
        name, image = (attrs["Names"] or [""])[0].lstrip("/"), attrs.get("Image", "")
        created = float(attrs.get("Created") or 0)
        exit_code = listed_exit_code(attrs.get("Status") or "")
    else:                 # a full inspect
        labels = attrs.get("Config", {}).get("Labels") or {}
        st = attrs.get("State") or {}
        state = st.get("Status", "unknown")
        name, image = attrs.get("Name", "").lstrip("/"), attrs.get("Config", {}).get("Image", "")
        created = iso_time(attrs.get("Created", ""))
        exit_code = st.get("ExitCode") if state in ("exited", "dead") else None
    nets = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    ip = (nets.get(network) or {}).get("IPAddress") or None
    return Container(
        name=name,
        pod=labels.get(LABEL_POD, ""),
        node=labels.get(LABEL_NODE, ""),
        app=labels.get(LABEL_APP, ""),
        state=state,
        ip=ip if state == "running" else None,
        image=image,
        gen=labels.get(LABEL_GEN, ""),
        id=attrs.get("Id", ""),
        created=created,
        exit_code=exit_code,
        epoch=_int(labels.get(LABEL_EPOCH)),
        host=labels.get(LABEL_HOST, ""),
    )


def _int(text: str | None) -> int:
    """A label's number, 0 if it has none (containers made before elections)."""
    try:
        return int(text or 0)
    except ValueError:
        return 0
