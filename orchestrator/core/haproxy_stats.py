"""HAProxy's answers, parsed (pure: no sockets).

* ``show stat`` CSV on the admin socket (:data:`STAT_COMMAND`): per backend
  ``stot`` (requests that arrived since the worker started: counted when a
  request is handed to the backend, before any queue), ``req_tot`` (those
  answered), ``scur`` (in the backend now: served or queued), ``qcur``
  (queued) and each server's ``status``;
  :func:`parse_stats_answer` turns it (with ``show info``'s Pid) into
  :class:`BackendStats`, and :func:`counter_increase` reads a cumulative
  counter across reloads.
* ``show servers state`` (:func:`parse_servers_state`): every server with its
  admin state and health, as ``model.Server``.
* the per-request log line of the ``frontend http`` (:data:`LOG_FORMAT`:
  backend, ``%Ta`` total active time in ms, status, ``%Tw`` queue time),
  sent over UDP to the manager; :func:`parse_log_line` reads one.

The edges (edges/haproxy.py, edges/haproxy_log.py) do the I/O; what the
figures are made into is core/readings.py.
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.core.model import Server
from orchestrator.core.naming import WAKER_SERVER

LOG_FORMAT = "%b %Ta %ST %Tw"
"""The ``log-format`` of the frontend: backend name, total active time of the
request (ms, from its first byte to the last byte of the answer), HTTP status,
time spent in HAProxy's queue (ms, -1 if it never got that far)."""

STAT_COMMAND = "show info;show stat -1 6 -1"
"""The worker's ``show info`` (for its Pid), then all proxies (-1), backends
and servers (2 + 4), all servers (-1): one connection, so both come from the
same worker. While HAProxy reloads, the old and the new worker both accept
on the admin socket for a moment, and readings of two workers' counters
must not be subtracted (:func:`parse_stats_answer`)."""

SERVING_STATUSES = ("UP", "no check")
"""A server whose ``status`` starts with one of these takes new requests
("UP 1/2" is going down but still up; DRAIN, NOLB, MAINT and DOWN take none)."""


class ParseError(ValueError):
    """An answer or log line that does not have the expected shape."""


# ------------------------------------------------------------ HAProxy's counters
@dataclass(frozen=True)
class BackendStats:
    """One backend as ``show stat`` reports it."""

    req_tot: int               # HTTP requests answered since this HAProxy worker started
    scur: int                  # requests in the backend now: being served or queued
    qcur: int                  # of those, the ones waiting in the backend's and servers' queues
    up: tuple[str, ...] = ()   # servers taking new requests (names, sorted)
    stot: int = 0              # requests that arrived since the worker started (the demand)
    worker: int = 0            # the Pid of the HAProxy worker that counted them (0: not known)

    @property
    def inflight(self) -> int:
        """Requests in progress or queued (``scur`` already holds the queued ones)."""
        return self.scur


def parse_stats_answer(text: str) -> dict[str, BackendStats]:
    """The answer to :data:`STAT_COMMAND` (``show info``'s lines, then the
    ``show stat`` CSV) → {backend name: BackendStats} with the worker's Pid."""
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
    if header is None:
        raise ParseError(f"'show stat' answer without a header: {text[:200]!r}")
    pids = [line.split(":", 1)[1].strip() for line in lines[:header] if line.startswith("Pid:")]
    if len(pids) != 1 or not pids[0].isdigit():
        raise ParseError(f"'show info' answer without one Pid: {text[:200]!r}")
    return parse_stat_csv("\n".join(lines[header:]), worker=int(pids[0]))


def parse_stat_csv(text: str, worker: int = 0) -> dict[str, BackendStats]:
    """``show stat`` CSV (backends and servers) → {backend name: BackendStats}
    (counted by ``worker``).

    The header line names the columns (``# pxname,svname,...``), so the
    parser does not depend on column positions."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ParseError(f"'show stat' answer without a header: {text[:200]!r}")
    header = lines[0][2:].split(",")
    missing = {"pxname", "svname", "scur", "qcur", "status", "req_tot", "stot"} - set(header)
    if missing:
        raise ParseError(f"'show stat' header lacks {sorted(missing)}")
    # csv: a check's description may be quoted and hold commas
    rows = [dict(zip(header, fields)) for fields in csv.reader(lines[1:])]
    if any(len(row) < len(header) for row in rows):
        raise ParseError("'show stat' answer has a row shorter than its header")
    up: dict[str, list[str]] = {}
    for row in rows:
        # the waker (a backup written in the config) is no node: it never counts as serving
        if row["svname"] not in ("BACKEND", "FRONTEND", WAKER_SERVER) and row["status"].startswith(SERVING_STATUSES):
            up.setdefault(row["pxname"], []).append(row["svname"])
    return {row["pxname"]: BackendStats(req_tot=_int(row["req_tot"]), scur=_int(row["scur"]),
                                        qcur=_int(row["qcur"]), stot=_int(row["stot"]),
                                        up=tuple(sorted(up.get(row["pxname"], ()))), worker=worker)
            for row in rows if row["svname"] == "BACKEND"}


def _int(value: str) -> int:
    """A CSV counter; empty (not applicable) reads as 0."""
    try:
        return int(value) if value else 0
    except ValueError:
        raise ParseError(f"'show stat' counter {value!r} is not a number") from None


def counter_increase(values: Sequence[int | None], workers: Sequence[int] = ()) -> int | None:
    """How much a cumulative counter grew over consecutive readings (None:
    not read). A reading lower than the one before is a reset (HAProxy
    reloaded: its new worker counts from 0), so that step counts what the new
    worker has counted; never negative. ``workers``: who counted each value
    (0: not known). A reading of another worker than the one before is
    compared with that worker's own last reading, or counts whole if it is
    the worker's first (a reload's new worker): while HAProxy reloads,
    readings may come from the old and the new worker in turn, and 110,000
    after 5 is no burst. None if no two consecutive readings."""
    total, pairs = 0, 0
    last: dict[int, int] = {}
    for i, (before, after) in enumerate(zip(values, values[1:])):
        if before is not None and workers and workers[i]:
            last[workers[i]] = before
        if before is None or after is None:
            continue
        if workers and workers[i] and workers[i + 1] and workers[i] != workers[i + 1]:
            before = last.get(workers[i + 1], 0)       # that worker's own last reading; a new one: from 0
        total += after - before if after >= before else after
        pairs += 1
    return total if pairs else None


# ------------------------------------------------------------ HAProxy's timers
@dataclass(frozen=True)
class LogRecord:
    """One request as the frontend logged it (:data:`LOG_FORMAT`)."""

    backend: str
    ta_ms: int       # total active time
    status: int      # HTTP status (-1: no answer)
    tw_ms: int       # time in the queue (-1: never queued)


def parse_log_line(line: str) -> LogRecord:
    """One line of :data:`LOG_FORMAT` (``format raw``: no syslog header)."""
    parts = line.split()
    if len(parts) != 4:
        raise ParseError(f"log line {line[:120]!r} is not '{LOG_FORMAT}'")
    try:
        ta, status, tw = (int(p.lstrip("+")) for p in parts[1:])
    except ValueError:
        raise ParseError(f"log line {line[:120]!r} has a non-numeric timer") from None
    return LogRecord(backend=parts[0], ta_ms=ta, status=status, tw_ms=tw)


# ------------------------------------------------------------ show servers state
# srv_admin_state bits (management guide, "show servers state")
_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40   # forced, inherited, config, DNS, FQDN
_DRAIN_BITS = 0x08 | 0x10
# srv_check_state bits
_CHK_CONFIGURED, _CHK_ENABLED, _CHK_PAUSED = 0x02, 0x04, 0x08


def parse_servers_state(text: str) -> list[Server]:
    """Parse ``show servers state`` (format version 1) into Servers."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    if lines[0].strip() != "1":
        raise ParseError(f"unknown 'show servers state' format {lines[0]!r} (expected 1)")
    header: list[str] = []
    servers = []
    for line in lines[1:]:
        if line.startswith("#"):
            header = line[1:].split()
            continue
        row = dict(zip(header, line.split()))
        admin_bits = int(row["srv_admin_state"])
        check_bits = int(row["srv_check_state"])
        if admin_bits & _MAINT_BITS:
            admin = "maint"
        elif admin_bits & _DRAIN_BITS:
            admin = "drain"
        else:
            admin = "ready"
        checks = bool(check_bits & _CHK_CONFIGURED and check_bits & _CHK_ENABLED)
        healthy: bool | None = None
        if checks and not check_bits & _CHK_PAUSED:
            # Healthy once a check has passed (result 3 PASSED, 4 CONDPASS):
            # before its first check a new server is not yet proven up.
            healthy = int(row["srv_op_state"]) != 0 and int(row["srv_check_result"]) in (3, 4)
        servers.append(Server(backend=row["be_name"], name=row["srv_name"],
                              addr=row["srv_addr"], port=int(row["srv_port"]),
                              admin=admin, healthy=healthy, checks=checks))
    return servers


# ------------------------------------------------------------ several managers
class CounterSum:
    """The app backends of every manager's HAProxy as one (several managers).

    Each manager's HAProxy counts only what came in through it (the virtual IP
    on one of them, the others' own addresses), so the leader's autoscaler
    adds them up. Per backend of ``local`` (this manager's HAProxy, which has
    every app's backend): ``stot`` and ``req_tot`` summed over every source,
    each source's counters kept as a running total of their increases, per
    HAProxy worker (``BackendStats.worker``): a new worker (a reload) counts
    from 0, a drop of one worker's counter is a reset, and readings of the
    old and the new worker in turn (both answer for a moment) each add only
    what that worker counted since its own last reading, so the sum never
    drops and a reload is never read as a burst; ``scur`` and ``qcur``
    summed over the sources that answered this time; ``up`` as ``local``
    sees it (every HAProxy has the same servers). A source that did not
    answer keeps its last counters: what came through it meanwhile is
    counted when it answers again (a stopped manager's HAProxy took
    nothing)."""

    WORKERS_KEPT = 4     # per source and backend: the last readings of this many workers

    def __init__(self) -> None:
        self.last: dict[str, dict[str, BackendStats]] = {}
        self.totals: dict[tuple[str, str], tuple[int, int]] = {}     # (source, backend) -> (stot, req_tot)
        self.by_worker: dict[tuple[str, str], dict[int, BackendStats]] = {}

    def _count(self, key: tuple[str, str], now: BackendStats) -> None:
        workers = self.by_worker.setdefault(key, {})
        prev = workers.pop(now.worker, None)
        if prev is None and not workers:
            added = (now.stot, now.req_tot)          # first sight: what it counted so far
        elif prev is None or now.stot < prev.stot or now.req_tot < prev.req_tot:
            added = (now.stot, now.req_tot)          # a new worker, or one that started again: from 0
        else:
            added = (now.stot - prev.stot, now.req_tot - prev.req_tot)
        stot, req_tot = self.totals.get(key, (0, 0))
        self.totals[key] = (stot + added[0], req_tot + added[1])
        workers[now.worker] = now                    # the newest last: the oldest ones are let go
        for old in list(workers)[:-self.WORKERS_KEPT]:
            del workers[old]

    def add(self, local: dict[str, BackendStats],
            peers: dict[str, dict[str, BackendStats] | None]) -> dict[str, BackendStats]:
        answers = {"": local, **{name: stats for name, stats in peers.items() if name}}
        for source, stats in answers.items():
            if stats is None:
                continue
            for backend, now in stats.items():
                self._count((source, backend), now)
            self.last[source] = dict(stats)
        combined = {}
        for backend, mine in local.items():
            stot = req_tot = scur = qcur = 0
            for source, stats in self.last.items():
                seen = stats.get(backend)
                if seen is None:
                    continue
                counted_stot, counted_req = self.totals[(source, backend)]
                stot, req_tot = stot + counted_stot, req_tot + counted_req
                if answers.get(source) is not None:
                    scur, qcur = scur + seen.scur, qcur + seen.qcur
            combined[backend] = BackendStats(req_tot=req_tot, scur=scur, qcur=qcur, up=mine.up, stot=stot)
        return combined
