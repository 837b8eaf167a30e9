"""The soak's arithmetic and its report (pure: no clock, no lab), tested in
tests/unit/test_soakkit.py; bench/soak.py does the sampling and the churn.

A ``Sample`` is what one look at the lab gave: each manager process's RSS,
threads and open files (by machine, with its PID: a restarted manager is
another process), etcd's database size, quota and revision (the manager's
/metrics), HAProxy's servers against the desired nodes, and the event ring.
``verdicts`` turns the samples and the end state into the lines the soak
prints: ``VERDICT <name> PASS|FAIL <what was seen>``.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

GROWTH_RATIO = 1.25       # last third over first third, beyond which a figure is not flat...
GROWTH_SLACK = {"rss_mib": 16.0, "threads": 8.0, "fds": 16.0}   # ...unless it grew by less than this
ETCD_BOUND = 0.5          # the database must stay below this share of its quota


@dataclass(frozen=True)
class Process:
    """One manager process as /proc showed it."""

    pid: int
    rss_mib: float
    threads: int
    fds: int


@dataclass
class Sample:
    time: float
    managers: dict[str, Process] = field(default_factory=dict)    # machine → its manager process
    etcd_db_bytes: float | None = None
    etcd_quota_bytes: float | None = None
    etcd_revision: float | None = None
    servers_off: int | None = None          # |HAProxy's servers − desired ONLINE nodes|, summed over apps
    events: int | None = None               # events in the ring
    errors: int | None = None               # controller.error events among them
    leader: str | None = None               # the machine whose manager led


# ------------------------------------------------------------ parsing what the lab answers
def parse_proc(status: str, fds: str) -> Process:
    """``/proc/<pid>/status`` (with a first line ``Pid: N``) and the count of
    ``/proc/<pid>/fd`` → a Process; ValueError if a figure is missing."""
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    try:
        return Process(pid=int(fields["Pid"].strip()), rss_mib=int(fields["VmRSS"].split()[0]) / 1024,
                       threads=int(fields["Threads"].strip()), fds=int(fds.strip()))
    except (KeyError, IndexError) as exc:
        raise ValueError(f"no {exc} in the process status") from None


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def parse_metrics(text: str, names: Iterable[str]) -> dict[str, float]:
    """The values of the unlabelled series ``names`` in a Prometheus exposition."""
    wanted, out = set(names), {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match and match.group(1) in wanted and not match.group(2):
            try:
                out[match.group(1)] = float(match.group(3))
            except ValueError:
                continue
    return out


def servers_off(servers: Mapping[str, int], desired: Mapping[str, int]) -> int:
    """How far HAProxy's servers per backend are from the desired ONLINE nodes
    per app (``app_<name>``), summed: 0 when they match."""
    return sum(abs(servers.get(f"app_{app}", 0) - n) for app, n in desired.items()) + \
        sum(n for backend, n in servers.items() if backend.removeprefix("app_") not in desired)


def containers_check(containers: Iterable[tuple[str, str]], desired: Iterable[tuple[str, str]]) -> tuple[
        list[tuple[str, str]], list[tuple[str, str]]]:
    """(orphans, duplicates) of the worker containers (pod, node) found on the
    pod hosts, against the desired nodes: an orphan is of no desired node, a
    duplicate one of two or more containers of the same node."""
    seen = Counter(containers)
    wanted = set(desired)
    return sorted(k for k in seen if k not in wanted), sorted(k for k, n in seen.items() if n > 1)


# ------------------------------------------------------------ arithmetic
def thirds(values: Sequence[float]) -> tuple[float, float] | None:
    """Means of the first and the last third of ``values`` (None: fewer than 3)."""
    if len(values) < 3:
        return None
    third = len(values) // 3
    return sum(values[:third]) / third, sum(values[-third:]) / third


def flat(first: float, last: float, slack: float) -> bool:
    """Whether ``last`` is ``first`` within noise: at most GROWTH_RATIO times,
    or grown by less than ``slack`` (small figures jitter by whole units)."""
    return last <= first * GROWTH_RATIO or last - first < slack


def longest_process(samples: Sequence[Sample]) -> tuple[str, list[Process]]:
    """The manager process seen in the most samples: (machine, its samples in
    order); a restart starts another process, so growth is looked at in one.
    A follower's, when one was seen: a leader opens Docker connections to
    every pod host as the churn needs them (a pool of at most ``POOL_SIZE``
    per host, each a thread and a few fds), so its first minutes are a
    warm-up, not a leak; a follower's work does not grow with the pod hosts."""
    runs: dict[tuple[str, int], list[Process]] = {}
    led = {s.leader for s in samples if s.leader}
    for s in samples:
        for machine, proc in s.managers.items():
            runs.setdefault((machine, proc.pid), []).append(proc)
    if not runs:
        return "", []
    followers = {key: procs for key, procs in runs.items() if key[0] not in led} or runs
    (machine, _), procs = max(followers.items(), key=lambda kv: len(kv[1]))
    return machine, procs


# ------------------------------------------------------------ the report
@dataclass(frozen=True)
class Verdict:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"VERDICT {self.name} {'PASS' if self.passed else 'FAIL'} {self.detail}"


def verdicts(samples: Sequence[Sample], *, sent: int, failed: int, orphans: Sequence[tuple[str, str]],
             duplicates: Sequence[tuple[str, str]], servers_off_at_end: int | None,
             failed_changes: int) -> list[Verdict]:
    """Every verdict of the soak, in the order printed."""
    out = [Verdict("failed_requests", failed == 0, f"{failed} of {sent} idempotent requests failed (goal 0)"),
           Verdict("orphan_containers", not orphans, f"{len(orphans)} (goal 0){_few(orphans)}"),
           Verdict("duplicate_containers", not duplicates, f"{len(duplicates)} (goal 0){_few(duplicates)}"),
           Verdict("haproxy_servers", servers_off_at_end == 0,
                   f"HAProxy's servers off the desired nodes by {servers_off_at_end} at the end (goal 0)"),
           Verdict("changes", failed_changes == 0, f"{failed_changes} change(s) through the CLI failed after "
                                                   "retries (goal 0)")]
    machine, procs = longest_process(samples)
    for attr, unit in (("rss_mib", "MiB"), ("threads", ""), ("fds", "")):
        values = [float(getattr(p, attr)) for p in procs]
        split = thirds(values)
        if split is None:
            out.append(Verdict(f"growth_{attr}", False, f"too few samples of one manager process ({len(values)})"))
            continue
        first, last = split
        out.append(Verdict(f"growth_{attr}", flat(first, last, GROWTH_SLACK[attr]),
                           f"{first:.1f}{unit} → {last:.1f}{unit} ({(last / first - 1) * 100 if first else 0:+.0f} %), "
                           f"first third against last third of the manager on {machine} "
                           f"({len(values)} samples of one process)"))
    out.append(_etcd(samples))
    return out


def _etcd(samples: Sequence[Sample]) -> Verdict:
    sized = [s for s in samples if s.etcd_db_bytes is not None]
    if not sized:
        return Verdict("etcd_size", False, "etcd's size was never read from /metrics")
    last, peak = sized[-1], max(s.etcd_db_bytes or 0.0 for s in sized)
    quota = last.etcd_quota_bytes
    revisions = [s.etcd_revision for s in sized if s.etcd_revision is not None]
    grew = f"; revision +{revisions[-1] - revisions[0]:.0f}" if len(revisions) > 1 else ""
    if not quota:
        return Verdict("etcd_size", False, f"{_mib(last.etcd_db_bytes)} at the end, peak {_mib(peak)}; "
                                           f"quota unknown{grew}")
    return Verdict("etcd_size", peak < ETCD_BOUND * quota,
                   f"{_mib(last.etcd_db_bytes)} at the end, peak {_mib(peak)} of its {_mib(quota)} quota "
                   f"({peak / quota:.0%}; bound {ETCD_BOUND:.0%}){grew}")


def _mib(value: float | None) -> str:
    return "?" if value is None else f"{value / 2 ** 20:.1f} MiB"


def _few(items: Sequence[tuple[str, str]]) -> str:
    return ": " + ", ".join(f"{p}/{n}" for p, n in items[:5]) + (" …" if len(items) > 5 else "") if items else ""


def figures(samples: Sequence[Sample]) -> list[str]:
    """A few lines of what was sampled, besides the verdicts."""
    if not samples:
        return ["no samples"]
    errors = [s.errors for s in samples if s.errors is not None]
    off = [s.servers_off for s in samples if s.servers_off is not None]
    restarts = len({(m, p.pid) for s in samples for m, p in s.managers.items()}) - \
        len({m for s in samples for m in s.managers})
    return [f"samples: {len(samples)} over {samples[-1].time - samples[0].time:.0f} s; manager restarts seen: "
            f"{restarts}",
            f"events in the ring at the end: {samples[-1].events}; controller.error among them: "
            f"{errors[-1] if errors else '?'}",
            f"HAProxy's servers off the desired nodes: at most {max(off) if off else '?'} during the churn"]


def failure_report(failures: Sequence[tuple[float, str, int, float, str | None]],
                   actions: Sequence[tuple[float, str]], began: float, limit: int = 20) -> list[str]:
    """Where the failed requests fell: one line per request (time from the start,
    path, status, 0 = no answer: then what came instead, and after how long),
    and the churn's last action before it and how long before. The first
    ``limit`` only, then how many more."""
    lines = []
    for at, path, status, took, error in sorted(failures)[:limit]:
        before = [(t, text) for t, text in actions if t <= at]
        cause = f"{at - before[-1][0]:.1f} s after '{before[-1][1]}'" if before else "before any change"
        what = status or f"no answer ({error or 'none'}, after {took:.1f} s)"
        lines.append(f"failed: GET {path} -> {what} at +{at - began:.1f} s, {cause}")
    if len(failures) > limit:
        lines.append(f"… and {len(failures) - limit} more failed request(s)")
    return lines
